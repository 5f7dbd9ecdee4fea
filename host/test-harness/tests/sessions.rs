//! Session windows (`SessionWindows::with_gap`) through the harness, on the `session-job` test
//! component: its `sessions` operator counts a user's `(user, time)` records per session and
//! emits `(user,start,end,count)`. Sessions merge as records arrive, their timers move to the
//! merged session's end, and late records are dropped as Flink drops them.

mod common;

use weir_test_harness::{HarnessError, OperatorHarness, RegisteredTimer, TimeDomain};

fn open(args: &[&str]) -> Result<OperatorHarness, HarnessError> {
    let wasm = common::component("session_job");
    OperatorHarness::open(&wasm, args, "sessions")
}

/// A record of `user` at `time` (its event time too).
fn click(h: &mut OperatorHarness, user: &str, time: i64) -> Result<(), HarnessError> {
    h.process_typed(user.as_bytes(), &(user.to_string(), time), time)
}

fn timer(domain: TimeDomain, user: &str, time: i64) -> RegisteredTimer {
    RegisteredTimer { domain, key: user.as_bytes().to_vec(), namespace: Vec::new(), time }
}

fn event_timers(user: &str, times: &[i64]) -> Vec<RegisteredTimer> {
    times.iter().map(|&t| timer(TimeDomain::EventTime, user, t)).collect()
}

/// The user's stored sessions, as the SDK keeps them: window end → `[start, count]` (JSON).
fn stored(h: &OperatorHarness, user: &str) -> Result<Vec<(String, String)>, HarnessError> {
    let entries = h.map_state("window-contents", user.as_bytes())?;
    Ok(entries
        .into_iter()
        .map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), String::from_utf8_lossy(&v).into_owned()))
        .collect())
}

fn entry(end: i64, start: i64, count: u64) -> (String, String) {
    (end.to_string(), format!("[{start},{count}]"))
}

fn late_dropped(h: &OperatorHarness) -> f64 {
    h.metrics().iter().find(|(name, _)| name == "numLateRecordsDropped").map_or(0.0, |(_, v)| *v)
}

/// The output since the last take, with each record's timestamp.
fn output(h: &mut OperatorHarness) -> Result<Vec<(Option<i64>, String)>, HarnessError> {
    Ok(h.take_output()?.into_iter().map(|r| (r.timestamp, String::from_utf8_lossy(&r.value).into_owned())).collect())
}

#[test]
fn a_users_records_within_the_gap_are_one_session_fired_once_the_watermark_passes_it() -> Result<(), HarnessError> {
    let mut h = open(&["--gap", "2000"])?;
    assert!(h.is_keyed());
    for time in [0, 1000, 2500] {
        click(&mut h, "a", time)?;
    }
    // One session [0, 4500): its timer moved with each merge, the earlier ones deleted.
    assert_eq!(h.timers(), event_timers("a", &[4499]));
    assert_eq!(stored(&h, "a")?, [entry(4500, 0, 3)]);
    h.advance_watermark(4498)?;
    assert!(h.take_output()?.is_empty(), "the session ends at 4499");
    h.advance_watermark(4499)?;
    assert_eq!(output(&mut h)?, [(Some(4499), "(a,0,4500,3)".to_string())]);
    assert!(stored(&h, "a")?.is_empty() && h.timers().is_empty(), "a fired session is cleared");

    // A record past the gap opens another session.
    click(&mut h, "a", 10_000)?;
    h.advance_watermark(20_000)?;
    assert_eq!(output(&mut h)?, [(Some(11_999), "(a,10000,12000,1)".to_string())]);
    assert_eq!(late_dropped(&h), 0.0);
    Ok(())
}

#[test]
fn a_later_record_bridges_two_sessions_into_one_with_the_summed_count() -> Result<(), HarnessError> {
    let mut h = open(&["--gap", "2000"])?;
    click(&mut h, "a", 0)?;
    click(&mut h, "a", 3000)?;
    click(&mut h, "a", 3100)?;
    click(&mut h, "b", 1000)?;
    assert_eq!(stored(&h, "a")?, [entry(2000, 0, 1), entry(5100, 3000, 2)]);
    let mut timers = event_timers("a", &[1999]);
    timers.extend(event_timers("b", &[2999]));
    timers.extend(event_timers("a", &[5099]));
    assert_eq!(h.timers(), timers);

    // [1500, 3500) overlaps both: one session [0, 5100) of 1 + 2 + 1; the first's timer goes.
    click(&mut h, "a", 1500)?;
    assert_eq!(stored(&h, "a")?, [entry(5100, 0, 4)]);
    let mut timers = event_timers("b", &[2999]);
    timers.extend(event_timers("a", &[5099]));
    assert_eq!(h.timers(), timers);

    h.advance_watermark(10_000)?;
    assert_eq!(
        output(&mut h)?,
        [(Some(2999), "(b,1000,3000,1)".to_string()), (Some(5099), "(a,0,5100,4)".to_string())],
        "each session fires once"
    );
    assert!(h.timers().is_empty());
    Ok(())
}

#[test]
fn a_batch_merges_its_records_with_each_other_and_with_the_stored_sessions() -> Result<(), HarnessError> {
    let mut h = open(&["--gap", "2000"])?;
    click(&mut h, "a", 3000)?;
    let record = |user: &str, time: i64| {
        (user.as_bytes().to_vec(), postcard::to_stdvec(&(user.to_string(), time)).expect("encode"), time)
    };
    // Touching windows merge: [0, 2000) and [2000, 4000) are one session, which reaches [3000, 5000).
    let batch = [record("a", 0), record("b", 0), record("a", 10_000), record("a", 2000), record("b", 5000)];
    h.process_elements(0, batch)?;
    assert_eq!(stored(&h, "a")?, [entry(12_000, 10_000, 1), entry(5000, 0, 3)]);
    assert_eq!(stored(&h, "b")?, [entry(2000, 0, 1), entry(7000, 5000, 1)]);
    h.finish()?;
    let mut texts = h.take_output_text()?;
    texts.sort();
    assert_eq!(texts, ["(a,0,5000,3)", "(a,10000,12000,1)", "(b,0,2000,1)", "(b,5000,7000,1)"]);
    Ok(())
}

#[test]
fn late_records_are_dropped_unless_they_reach_a_session_still_open() -> Result<(), HarnessError> {
    let mut h = open(&["--gap", "2000"])?;
    click(&mut h, "a", 0)?;
    h.advance_watermark(1999)?;
    assert_eq!(h.take_output_text()?, ["(a,0,2000,1)"]);
    // [500, 2500) would have ended by 2499; [1000, 3000) not yet at 1999.
    h.advance_watermark(2600)?;
    click(&mut h, "a", 500)?;
    assert_eq!(late_dropped(&h), 1.0);
    assert!(stored(&h, "a")?.is_empty() && h.timers().is_empty());

    // At 2600, 1600's window [1600, 3600) is open: kept, and merged with [3500, 5500).
    click(&mut h, "a", 3500)?;
    click(&mut h, "a", 1600)?;
    assert_eq!(stored(&h, "a")?, [entry(5500, 1600, 2)]);
    // At 3000, 900's window [900, 2900) has ended, but it reaches the open session: kept.
    h.advance_watermark(3000)?;
    click(&mut h, "a", 900)?;
    assert_eq!(late_dropped(&h), 1.0, "a late record that reaches an open session is kept");
    assert_eq!(stored(&h, "a")?, [entry(5500, 900, 3)]);
    // b has no session for [100, 2100) to reach.
    click(&mut h, "b", 100)?;
    assert_eq!(late_dropped(&h), 2.0);
    assert!(stored(&h, "b")?.is_empty());
    h.finish()?;
    assert_eq!(h.take_output_text()?, ["(a,900,5500,3)"]);
    Ok(())
}

#[test]
fn within_the_allowed_lateness_a_session_takes_late_records_and_fires_again() -> Result<(), HarnessError> {
    let mut h = open(&["--gap", "2000", "--lateness", "1000"])?;
    click(&mut h, "a", 0)?;
    // Its end, and its cleanup at the end of the allowed lateness.
    assert_eq!(h.timers(), event_timers("a", &[1999, 2999]));
    h.advance_watermark(1999)?;
    assert_eq!(output(&mut h)?, [(Some(1999), "(a,0,2000,1)".to_string())]);
    assert_eq!(stored(&h, "a")?, [entry(2000, 0, 1)], "kept for the allowed lateness");

    // A late record extends the fired session to [0, 2100), which has ended too: it fires now,
    // and its cleanup moves to 3099.
    h.advance_watermark(2600)?;
    click(&mut h, "a", 100)?;
    assert_eq!(output(&mut h)?, [(Some(2099), "(a,0,2100,2)".to_string())]);
    assert_eq!(h.timers(), event_timers("a", &[3099]));
    assert_eq!(stored(&h, "a")?, [entry(2100, 0, 2)]);
    // One that extends it past the watermark waits for the new end.
    click(&mut h, "a", 1500)?;
    assert!(h.take_output()?.is_empty());
    assert_eq!(h.timers(), event_timers("a", &[3499, 4499]));
    h.advance_watermark(3499)?;
    assert_eq!(h.take_output_text()?, ["(a,0,3500,3)"]);

    // Once the lateness is over the session is gone, and a record for it is dropped.
    h.advance_watermark(4499)?;
    assert!(h.take_output()?.is_empty() && stored(&h, "a")?.is_empty() && h.timers().is_empty());
    click(&mut h, "a", 50)?;
    assert_eq!(late_dropped(&h), 1.0);
    assert!(stored(&h, "a")?.is_empty() && h.take_output()?.is_empty());
    Ok(())
}

#[test]
fn processing_time_sessions_follow_the_clock() -> Result<(), HarnessError> {
    let mut h = open(&["--gap", "2000", "--processing-time"])?;
    h.set_processing_time(1000)?;
    // Event time does not matter: the record's session starts at the clock.
    click(&mut h, "a", 99_000)?;
    assert_eq!(h.timers(), [timer(TimeDomain::ProcessingTime, "a", 2999)]);
    h.set_processing_time(2000)?;
    click(&mut h, "a", 5)?;
    assert_eq!(h.timers(), [timer(TimeDomain::ProcessingTime, "a", 3999)], "moved to the merged end");
    h.set_processing_time(3998)?;
    assert!(h.take_output()?.is_empty());
    h.set_processing_time(3999)?;
    assert_eq!(h.take_output_text()?, ["(a,1000,4000,2)"]);
    assert!(stored(&h, "a")?.is_empty());
    Ok(())
}
