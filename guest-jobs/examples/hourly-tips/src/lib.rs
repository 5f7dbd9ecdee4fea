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

/// The training's `HourlyTipsTest` for the per-driver window, on `weir_sdk::testing`: fares fed
/// by hand, each hour's sum emitted once the watermark passes the hour's end.
#[cfg(test)]
mod tests {
    use super::*;
    use weir_sdk::testing::OperatorHarness;

    const T0: i64 = 1_577_880_000_000; // 2020-01-01T12:00:00Z, on the hour

    fn fare(driver_id: i64, start_time: i64, tip: f32) -> TaxiFare {
        TaxiFare {
            ride_id: start_time,
            taxi_id: driver_id,
            driver_id,
            start_time,
            payment_type: "CARD".into(),
            tip,
            tolls: 0.0,
            total_fare: 10.0 + tip,
        }
    }

    #[test]
    fn each_drivers_tips_are_summed_per_hour_when_the_hour_ends() {
        let mut h = OperatorHarness::open_stream::<HourlyTips>(&[], "hourly-tips").expect("AddTips opens");
        for f in [fare(1, T0, 1.0), fare(1, T0 + 15 * 60_000, 2.0), fare(2, T0 + 30 * 60_000, 5.0)] {
            h.process_keyed(&f.driver_id, &f, f.start_time).unwrap();
        }
        // The next hour's fare, and the watermark short of the hour's end: nothing yet.
        let later = fare(1, T0 + HOUR_MS + 60_000, 10.0);
        h.process_keyed(&later.driver_id, &later, later.start_time).unwrap();
        h.advance_watermark(T0 + HOUR_MS - 2).unwrap();
        assert!(h.take_output().unwrap().is_empty());
        h.advance_watermark(T0 + HOUR_MS).unwrap();
        let mut hour: Vec<(i64, i64, f32)> = h.take_output_typed().unwrap();
        hour.sort_by_key(|t| t.1);
        assert_eq!(hour, [(T0 + HOUR_MS, 1, 3.0), (T0 + HOUR_MS, 2, 5.0)]);
        h.finish().unwrap();
        assert_eq!(h.take_output_typed::<(i64, i64, f32)>().unwrap(), [(T0 + 2 * HOUR_MS, 1, 10.0)]);
    }
}
