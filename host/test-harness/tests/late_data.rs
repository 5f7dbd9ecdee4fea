//! Late records of tumbling event-time windows go to the side output asked for with
//! `side_output_late_data` (Flink's `sideOutputLateData`), through the harness, on the
//! `late-data-job` test component: its `counter` window counts `(word, time)` records per word in
//! 10-second windows.

mod common;

use weir_test_harness::{HarnessError, OperatorHarness};

fn open(args: &[&str]) -> Result<OperatorHarness, HarnessError> {
    let wasm = common::component("late_data_job");
    OperatorHarness::open(&wasm, args, "counter")
}

fn record(h: &mut OperatorHarness, time: i64) -> Result<(), HarnessError> {
    h.process_typed(b"word", &("word".to_string(), time), time)
}

/// Window results `(word,start,end,count)` and late records `(word, time)`.
type Outputs = (Vec<(String, i64, i64, u64)>, Vec<(String, i64)>);

/// The window's output since the last take: main records (tag 0) as `(word,start,end,count)`,
/// late ones (tag 1) as `(word, time)`.
fn outputs(h: &mut OperatorHarness) -> Result<Outputs, HarnessError> {
    let mut main = Vec::new();
    let mut late = Vec::new();
    for r in h.take_output()? {
        match r.value.split_first() {
            Some((0, v)) => main.push(postcard::from_bytes(v).expect("a window result")),
            Some((1, v)) => late.push(postcard::from_bytes(v).expect("a late record")),
            other => panic!("an output without a known tag: {other:?}"),
        }
    }
    Ok((main, late))
}

#[test]
fn late_records_go_to_the_side_output_instead_of_being_dropped() -> Result<(), HarnessError> {
    let mut h = open(&[])?;
    record(&mut h, 1_000)?;
    record(&mut h, 2_000)?;
    h.advance_watermark(9_999)?;
    assert_eq!(outputs(&mut h)?, (vec![("word".to_string(), 0, 10_000, 2)], vec![]));
    // Behind the watermark: its window has fired; it goes to the side output, once.
    record(&mut h, 3_000)?;
    record(&mut h, 12_000)?;
    assert_eq!(outputs(&mut h)?, (vec![], vec![("word".to_string(), 3_000)]));
    let dropped = h.metrics().iter().find(|(n, _)| n == "numLateRecordsDropped").map_or(0.0, |(_, v)| *v);
    assert_eq!(dropped, 0.0, "a record sent to the side output is not dropped");
    h.advance_watermark(19_999)?;
    assert_eq!(outputs(&mut h)?, (vec![("word".to_string(), 10_000, 20_000, 1)], vec![]));
    Ok(())
}

#[test]
fn within_the_allowed_lateness_a_record_updates_its_window_and_is_not_late() -> Result<(), HarnessError> {
    let mut h = open(&["--lateness", "5000"])?;
    record(&mut h, 1_000)?;
    h.advance_watermark(9_999)?;
    assert_eq!(outputs(&mut h)?, (vec![("word".to_string(), 0, 10_000, 1)], vec![]));
    record(&mut h, 2_000)?;
    assert_eq!(outputs(&mut h)?, (vec![("word".to_string(), 0, 10_000, 2)], vec![]));
    h.advance_watermark(15_000)?;
    record(&mut h, 3_000)?;
    assert_eq!(outputs(&mut h)?, (vec![], vec![("word".to_string(), 3_000)]));
    Ok(())
}
