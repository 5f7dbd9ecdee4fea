//! Apache Flink training's *Hourly Tips* exercise (`HourlyTipsSolution`) on the typed job API:
//! the tips of each driver per hour (a keyed event-time window), then the driver with the most
//! tips in each hour (a window over all drivers, Flink's `windowAll(..).maxBy(2)`).
//!
//! Fares come from the training's generator (ported in `taxi-data`), driven by a datagen
//! source; they are in event-time order. Output: `(windowEnd, driverId, tips)` as a JSON array.
//! Arguments: `--events N`, `--rate R`, `--bootstrap.servers`, `--output TOPIC` (otherwise
//! printed).

use taxi_data::{TaxiFare, TaxiFareGenerator};
use weir_sdk::args::Args;
use weir_sdk::stream::connectors::{Datagen, KafkaSink};
use weir_sdk::stream::{Env, Json, Raw, StreamJob, TumblingWindows};

const HOUR_MS: i64 = 60 * 60 * 1000;

struct HourlyTips;

impl StreamJob for HourlyTips {
    fn build(env: &mut Env, args: Vec<String>) -> Result<(), String> {
        let mut a = Args::parse(&args)?;
        let (events, rate): (Option<u64>, Option<u64>) = (a.parsed("events")?, a.parsed("rate")?);
        let servers = a.value_or("bootstrap.servers", "localhost:9092")?;
        let output = a.value("output")?;
        a.finish()?;

        env.set_job_name("Hourly Tips");
        // Fares are in order: monotonous timestamps.
        env.set_event_time(0, None);
        let datagen = Datagen::new().count(events).rate(rate);
        let mut generator = TaxiFareGenerator::new();
        let hourly_max = env
            .from_source(datagen, Raw)
            .set_parallelism(1)
            .flat_map(move |_| generator.next())
            .name("TaxiFareGenerator")
            .assign_timestamps(TaxiFare::event_time_millis)
            .key_by(|fare: &TaxiFare| fare.driver_id)
            .window(TumblingWindows::of_event_time(HOUR_MS))
            .process(|driver, window, fares, out| {
                let tips: f32 = fares.iter().map(|f| f.tip).sum();
                out.collect((window.end, *driver, tips));
                Ok(())
            })
            .name("AddTips")
            .uid("hourly-tips")
            .window_all(TumblingWindows::of_event_time(HOUR_MS))
            .reduce(|max, tips| if tips.2 > max.2 { tips } else { max })
            .name("MaxBy")
            .uid("hourly-max");
        match output {
            Some(topic) => hourly_max.sink_to(KafkaSink::new(&servers, &topic), Json::new()),
            None => hourly_max.map(|(end, driver, tips)| format!("({end},{driver},{tips})")).print(),
        };
        Ok(())
    }
}

weir_sdk::export_stream_job!(HourlyTips);
