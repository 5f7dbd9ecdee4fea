//! Session windows on the typed job API (Flink's `EventTimeSessionWindows.withGap`): a user's
//! records `(user, event time ms)` are counted per session, and each session is emitted once the
//! watermark passes its end as `(user,start,end,count)`.
//!
//! The records come from a datagen source: the `i`-th goes to `user-{i % 3}` at
//! `i * step + (i / burst) * pause` ms (bursts of records with pauses between them).
//! Arguments: `--gap MS` (2000), `--lateness MS` (0), `--processing-time` (sessions on the wall
//! clock), `--events N`, `--rate R`, `--step MS` (700), `--burst N` and `--pause MS` (none),
//! `--bootstrap.servers`, `--output TOPIC` (otherwise printed). The window's uid is `sessions`.

use weir_sdk::args::Args;
use weir_sdk::stream::connectors::{Datagen, KafkaSink};
use weir_sdk::stream::state::Count;
use weir_sdk::stream::{Env, Json, Raw, SessionWindows, StreamJob};

struct SessionJob;

impl StreamJob for SessionJob {
    fn build(env: &mut Env, args: Vec<String>) -> Result<(), String> {
        let mut a = Args::parse(&args)?;
        let gap: i64 = a.parsed("gap")?.unwrap_or(2000);
        let lateness: i64 = a.parsed("lateness")?.unwrap_or(0);
        let processing_time = a.flag("processing-time")?;
        let (events, rate): (Option<u64>, Option<u64>) = (a.parsed("events")?, a.parsed("rate")?);
        let step: i64 = a.parsed("step")?.unwrap_or(700);
        let burst: i64 = a.parsed::<i64>("burst")?.unwrap_or(0).max(0);
        let pause: i64 = a.parsed("pause")?.unwrap_or(0);
        let servers = a.value_or("bootstrap.servers", "localhost:9092")?;
        let output = a.value("output")?;
        a.finish()?;

        env.set_job_name("Sessions");
        env.set_event_time(0, None);
        let datagen = Datagen::new().count(events).rate(rate);
        let assigner =
            if processing_time { SessionWindows::processing_time_with_gap(gap) } else { SessionWindows::with_gap(gap) };
        let mut i = 0i64;
        let sessions = env
            .from_source(datagen, Raw)
            .set_parallelism(1)
            .map(move |_| {
                let paused = if burst > 0 { i / burst * pause } else { 0 };
                let record = (format!("user-{}", i % 3), i * step + paused);
                i += 1;
                record
            })
            .name("Users")
            .assign_timestamps(|(_, time): &(String, i64)| *time)
            .key_by(|(user, _): &(String, i64)| user.clone())
            .window(assigner)
            .allowed_lateness(lateness)
            .aggregate(Count, |user: &String, window, count| (user.clone(), window.start, window.end, count))
            .uid("sessions");
        match output {
            Some(topic) => sessions.sink_to(KafkaSink::new(&servers, &topic), Json::new()).uid("sink"),
            None => {
                sessions.map(|(user, start, end, count)| format!("({user},{start},{end},{count})")).print().uid("sink")
            }
        };
        Ok(())
    }
}

weir_sdk::export_stream_job!(SessionJob);
