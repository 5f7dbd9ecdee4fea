//! The harness on the guest components the host's build script builds: WordCount's keyed reduce
//! and its tokenizing source, and the Click Event Count window operator in event time and in
//! processing time.

mod common;

use weir_test_harness::{HarnessError, OperatorHarness, RegisteredTimer, TimeDomain};

fn word(w: &str) -> (String, u64) {
    (w.to_string(), 1)
}

#[test]
fn word_count_emits_running_counts_and_keeps_them_in_reduce_state() -> Result<(), HarnessError> {
    let mut counter = OperatorHarness::open(&common::component("word_count"), &[], "counter")?;
    assert!(counter.is_keyed());
    for (i, w) in ["to", "be", "or", "not", "to", "be"].into_iter().enumerate() {
        counter.process_typed(w.as_bytes(), &word(w), 1_000 + i as i64)?;
    }
    let output = counter.take_output()?;
    let timestamps: Vec<Option<i64>> = output.iter().map(|r| r.timestamp).collect();
    assert_eq!(timestamps, (1_000..1_006).map(Some).collect::<Vec<_>>(), "records keep their timestamps");
    let texts: Vec<String> = output.iter().map(|r| String::from_utf8_lossy(&r.value).into_owned()).collect();
    assert_eq!(texts, ["(to,1)", "(be,1)", "(or,1)", "(not,1)", "(to,2)", "(be,2)"]);
    assert!(counter.take_output()?.is_empty(), "taking the output empties it");

    assert_eq!(counter.value_state_json::<(String, u64)>("reduce", b"to")?, Some(("to".into(), 2)));
    assert_eq!(counter.value_state_json::<(String, u64)>("reduce", b"not")?, Some(("not".into(), 1)));
    assert_eq!(counter.value_state("reduce", b"question")?, None);
    assert_eq!(counter.value_state("reduce", b"be")?, Some(br#"["be",2]"#.to_vec()));

    // A batch is one call; the state carries on from the records before.
    let batch = ["to", "to"].map(|w| (w.as_bytes().to_vec(), postcard::to_stdvec(&word(w)).unwrap(), 2_000));
    counter.process_elements(0, batch)?;
    assert_eq!(counter.take_output_text()?, ["(to,3)", "(to,4)"]);
    assert!(counter.timers().is_empty(), "a reduce registers no timers");
    counter.finish()?;
    assert!(counter.take_output()?.is_empty());
    Ok(())
}

#[test]
fn word_count_source_tokenizes_and_keys_by_word() -> Result<(), HarnessError> {
    let mut source = OperatorHarness::open(&common::component("word_count"), &[], "source-0")?;
    assert!(!source.is_keyed());
    source.process_element(b"", b"To be, or not to be", 7)?;
    let output = source.take_output()?;
    let keys: Vec<&[u8]> = output.iter().map(|r| r.key.as_slice()).collect();
    assert_eq!(keys, [&b"to"[..], b"be", b"or", b"not", b"to", b"be"]);
    assert!(output.iter().all(|r| r.timestamp == Some(7)));
    source.process_element(b"", b"that is", 8)?;
    let words: Vec<(String, u64)> = source.take_output_typed()?;
    assert_eq!(words, [word("that"), word("is")]);
    // Keyed state is for keyed operators only.
    assert!(matches!(source.value_state("reduce", b"to"), Err(HarnessError::NotKeyed(_))));
    Ok(())
}

#[test]
fn unknown_operators_sinks_and_inputs_are_refused_with_what_there_is() {
    let wasm = common::component("word_count");
    let error = OperatorHarness::open(&wasm, &[], "nope").unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, HarnessError::NoSuchOperator { .. }), "{text}");
    assert!(text.contains("source-0") && text.contains("counter") && text.contains("sink"), "{text}");

    let error = OperatorHarness::open(&wasm, &[], "sink").unwrap_err();
    assert!(matches!(error, HarnessError::NoFunction { .. }), "{error}");
    assert!(error.to_string().contains("counter"), "{error}");

    let error = OperatorHarness::open(&wasm, &["--no-such-argument"], "counter").unwrap_err();
    assert!(matches!(error, HarnessError::Plan(_)), "{error}");

    let mut counter = OperatorHarness::open(&wasm, &[], "counter").expect("open the counter");
    let error = counter.process_element_on(1, b"to", b"", 0).unwrap_err();
    assert!(matches!(error, HarnessError::NoSuchInput { input: 1, inputs: 1, .. }), "{error}");
    // A value that is not a postcard (String, u64) fails the guest's call, named.
    let error = counter.process_element(b"to", b"\xff", 0).unwrap_err();
    assert!(matches!(error, HarnessError::Guest(_)), "{error}");
}

/// The window of 15 s starting at `start`, as the window operator's timers name it.
fn window_timer(domain: TimeDomain, page: &str, start: i64) -> RegisteredTimer {
    RegisteredTimer {
        domain,
        key: page.as_bytes().to_vec(),
        namespace: start.to_be_bytes().to_vec(),
        time: start + 14_999,
    }
}

#[test]
fn event_time_windows_fire_when_the_watermark_reaches_them() -> Result<(), HarnessError> {
    let mut counter =
        OperatorHarness::open(&common::component("click_event_count"), &["--event-time"], "click-event-counter")?;
    counter.process_element(b"/index", b"", 1_000)?;
    counter.process_element(b"/help", b"", 3_000)?;
    counter.process_elements(0, [(b"/index", b"", 2_000), (b"/index", b"", 16_000)])?;
    assert_eq!(
        counter.timers(),
        [
            window_timer(TimeDomain::EventTime, "/help", 0),
            window_timer(TimeDomain::EventTime, "/index", 0),
            window_timer(TimeDomain::EventTime, "/index", 15_000),
        ]
    );
    assert!(counter.value_state_in("window-contents", b"/index", &0i64.to_be_bytes())?.is_some());

    counter.advance_watermark(14_998)?;
    assert!(counter.take_output()?.is_empty(), "no window ends before 14999");
    counter.advance_watermark(14_999)?;
    let output = counter.take_output()?;
    assert_eq!(output.iter().map(|r| r.timestamp).collect::<Vec<_>>(), [Some(14_999), Some(14_999)]);
    let texts: Vec<String> = output.iter().map(|r| String::from_utf8_lossy(&r.value).into_owned()).collect();
    // Fired in timer order: (time, key, namespace).
    assert!(texts[0].contains(r#""page":"/help","count":1"#), "{texts:?}");
    assert!(texts[1].contains(r#""page":"/index","count":2"#), "{texts:?}");
    assert_eq!(
        counter.value_state_in("window-contents", b"/index", &0i64.to_be_bytes())?,
        None,
        "fired windows are cleared"
    );
    assert_eq!(counter.timers(), [window_timer(TimeDomain::EventTime, "/index", 15_000)]);

    // A record for a window the watermark has passed is late: dropped and counted.
    counter.process_element(b"/index", b"", 5_000)?;
    assert!(counter.timers().len() == 1 && counter.metrics().contains(&("numLateRecordsDropped".into(), 1.0)));

    let error = counter.advance_watermark(10).unwrap_err();
    assert!(matches!(error, HarnessError::WatermarkBackwards { current: 14_999, requested: 10 }), "{error}");

    // The end of input fires what is left, as the runtime does.
    counter.finish()?;
    let texts = counter.take_output_text()?;
    assert_eq!(texts.len(), 1);
    assert!(texts[0].contains(r#""page":"/index","count":1"#), "{texts:?}");
    assert!(counter.timers().is_empty());
    Ok(())
}

#[test]
fn processing_time_windows_follow_the_manual_clock() -> Result<(), HarnessError> {
    let mut counter = OperatorHarness::open(&common::component("click_event_count"), &[], "click-event-counter")?;
    // Event time does not matter here: the windows follow the clock the harness sets.
    counter.set_processing_time(1_000)?;
    let clicks: [(&[u8], &[u8], i64); 3] = [(b"/index", b"", 99_000_000), (b"/index", b"", 5), (b"/jobs", b"", 5)];
    counter.process_elements(0, clicks)?;
    assert_eq!(
        counter.timers(),
        [window_timer(TimeDomain::ProcessingTime, "/index", 0), window_timer(TimeDomain::ProcessingTime, "/jobs", 0)]
    );
    counter.set_processing_time(14_998)?;
    assert!(counter.take_output()?.is_empty(), "the window [0, 15000) ends at 14999");
    // Setting the clock past a timer fires it.
    counter.set_processing_time(20_000)?;
    let texts = counter.take_output_text()?;
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[0].contains(r#""page":"/index","count":2"#), "{texts:?}");
    assert!(texts[1].contains(r#""page":"/jobs","count":1"#), "{texts:?}");

    // At 20000 a record goes to the window [15000, 30000), whose timer waits for 29999.
    counter.process_element(b"/help", b"", 0)?;
    assert_eq!(counter.timers(), [window_timer(TimeDomain::ProcessingTime, "/help", 15_000)]);
    counter.advance_watermark(i64::MAX - 1)?;
    assert!(counter.take_output()?.is_empty(), "the watermark does not fire processing-time timers");
    counter.set_processing_time(29_998)?;
    assert!(counter.take_output()?.is_empty());
    counter.set_processing_time(29_999)?;
    let texts = counter.take_output_text()?;
    assert_eq!(texts.len(), 1);
    assert!(texts[0].contains(r#""page":"/help","count":1"#), "{texts:?}");
    assert_eq!(counter.processing_time(), 29_999);
    Ok(())
}

#[test]
fn a_two_input_operator_takes_records_on_either_input() -> Result<(), HarnessError> {
    let wasm = common::component("merge_job");
    let mut windows = OperatorHarness::open(&wasm, &["--mode", "windows"], "windows")?;
    assert_eq!((windows.inputs(), windows.is_keyed()), (2, true));
    windows.set_processing_time(1_500)?;
    // Ids are keyed by id % 4: 5 and 9 share the key "1".
    windows.process_element_on(0, b"1", b"5", 10)?;
    windows.process_element_on(1, b"1", b"9", 20)?;
    windows.process_element_on(1, b"2", b"6", 30)?;
    let error = windows.process_element_on(2, b"1", b"13", 40).unwrap_err();
    assert!(matches!(error, HarnessError::NoSuchInput { input: 2, inputs: 2, .. }), "{error}");
    let times: Vec<(TimeDomain, i64)> = windows.timers().iter().map(|t| (t.domain, t.time)).collect();
    assert_eq!(times, [(TimeDomain::ProcessingTime, 1_999), (TimeDomain::ProcessingTime, 1_999)]);
    windows.set_processing_time(1_999)?;
    assert_eq!(
        windows.take_output_text()?,
        [r#"{"id":5,"window":1000}"#, r#"{"id":9,"window":1000}"#, r#"{"id":6,"window":1000}"#]
    );
    assert!(windows.timers().is_empty());
    Ok(())
}
