//! Tumbling event-time windows whose late records go to a side output (Flink's
//! `sideOutputLateData`), for the tests: `(word, event time ms)` records from the datagen source
//! (never read in the tests, which feed the window through the operator harness), counted per
//! word in 10-second windows by the operator `counter`, which emits `(word,start,end,count)`; late
//! records are printed from the side output `late`.
//!
//! Arguments: `--lateness MS` (0).

use weir_sdk::args::Args;
use weir_sdk::stream::connectors::Datagen;
use weir_sdk::stream::state::Count;
use weir_sdk::stream::{Env, OutputTag, Raw, StreamJob, TumblingWindows};

struct LateDataJob;

impl StreamJob for LateDataJob {
    fn build(env: &mut Env, args: Vec<String>) -> Result<(), String> {
        let mut a = Args::parse(&args)?;
        let lateness: i64 = a.parsed("lateness")?.unwrap_or(0);
        a.finish()?;
        env.set_event_time(0, None);
        let late = OutputTag::<(String, i64)>::new("late");
        let mut i = 0i64;
        let mut counts = env
            .from_source(Datagen::new().count(10), Raw)
            .map(move |_| {
                i += 1;
                ("word".to_string(), i * 1000)
            })
            .assign_timestamps(|(_, time): &(String, i64)| *time)
            .key_by(|(word, _): &(String, i64)| word.clone())
            .window(TumblingWindows::of_event_time(10_000))
            .allowed_lateness(lateness)
            .side_output_late_data(&late)
            .aggregate(Count, |word: &String, window, count| (word.clone(), window.start, window.end, count))
            .uid("counter");
        let late_records = counts.get_side_output(&late);
        counts.map(|(w, s, e, c)| format!("{w},{s},{e},{c}")).print();
        late_records.map(|(w, t)| format!("late {w} {t}")).print();
        Ok(())
    }
}

weir_sdk::export_stream_job!(LateDataJob);
