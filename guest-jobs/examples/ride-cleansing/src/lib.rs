//! Apache Flink training's *Ride Cleansing* exercise (`RideCleansingSolution`) on the typed job
//! API: keep the taxi rides that start and end in New York City.
//!
//! The rides come from the training's generator (ported in `taxi-data`), driven by the
//! built-in datagen source (one ride event per generated record, one source subtask).
//! Arguments: `--events N` (ride events to generate; unbounded without it), `--rate R` (events
//! per second), `--bootstrap.servers`, `--output TOPIC` (otherwise printed).

use taxi_data::{TaxiRide, TaxiRideGenerator, geo_utils::is_in_nyc};
use weir_sdk::args::Args;
use weir_sdk::stream::connectors::{Datagen, KafkaSink};
use weir_sdk::stream::{Env, Raw, StreamJob, Text};

struct RideCleansing;

impl StreamJob for RideCleansing {
    fn build(env: &mut Env, args: Vec<String>) -> Result<(), String> {
        let mut a = Args::parse(&args)?;
        let (events, rate): (Option<u64>, Option<u64>) = (a.parsed("events")?, a.parsed("rate")?);
        let servers = a.value_or("bootstrap.servers", "localhost:9092")?;
        let output = a.value("output")?;
        a.finish()?;

        env.set_job_name("Taxi Ride Cleansing");
        let datagen = Datagen::new().count(events).rate(rate);
        let mut generator = TaxiRideGenerator::new();
        let rides = env
            .from_source(datagen, Raw)
            .set_parallelism(1)
            .flat_map(move |_| generator.next())
            .name("TaxiRideGenerator")
            .filter(|r: &TaxiRide| is_in_nyc(r.start_lon, r.start_lat) && is_in_nyc(r.end_lon, r.end_lat))
            .name("NYCFilter")
            .map(|ride| ride.to_string());
        match output {
            Some(topic) => rides.sink_to(KafkaSink::new(&servers, &topic), Text),
            None => rides.print(),
        };
        Ok(())
    }
}

weir_sdk::export_stream_job!(RideCleansing);
