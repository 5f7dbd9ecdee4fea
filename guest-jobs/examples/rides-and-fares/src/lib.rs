//! Apache Flink training's *Rides and Fares* exercise (`RidesAndFaresSolution`) on the typed job
//! API: join each ride's START event with its fare, whichever arrives first, in keyed state.
//!
//! Rides and fares come from the training's generators (ported in `taxi-data`), each driven by a
//! datagen source. Arguments: `--events N` (records per generator), `--rate R`,
//! `--bootstrap.servers`, `--output TOPIC` (otherwise printed).

use taxi_data::{RideAndFare, TaxiFare, TaxiFareGenerator, TaxiRide, TaxiRideGenerator};
use weir_sdk::args::Args;
use weir_sdk::stream::connectors::{Datagen, KafkaSink};
use weir_sdk::stream::state::ValueState;
use weir_sdk::stream::{Collector, Context, Env, KeyedCoProcessFunction, Raw, StreamJob, Text};

/// Holds whichever of a ride and its fare comes first, until the other does.
struct Enrichment {
    ride: ValueState<TaxiRide>,
    fare: ValueState<TaxiFare>,
}

impl KeyedCoProcessFunction<i64, TaxiRide, TaxiFare, RideAndFare> for Enrichment {
    fn process_element1(
        &mut self,
        ride: TaxiRide,
        _ctx: &mut Context<'_, i64>,
        out: &mut Collector<'_, RideAndFare>,
    ) -> Result<(), String> {
        match self.fare.value()? {
            Some(fare) => {
                self.fare.clear()?;
                out.collect(RideAndFare::new(ride, fare));
            }
            None => self.ride.update(&ride)?,
        }
        Ok(())
    }

    fn process_element2(
        &mut self,
        fare: TaxiFare,
        _ctx: &mut Context<'_, i64>,
        out: &mut Collector<'_, RideAndFare>,
    ) -> Result<(), String> {
        match self.ride.value()? {
            Some(ride) => {
                self.ride.clear()?;
                out.collect(RideAndFare::new(ride, fare));
            }
            None => self.fare.update(&fare)?,
        }
        Ok(())
    }
}

struct RidesAndFares;

impl StreamJob for RidesAndFares {
    fn build(env: &mut Env, args: Vec<String>) -> Result<(), String> {
        let mut a = Args::parse(&args)?;
        let (events, rate): (Option<u64>, Option<u64>) = (a.parsed("events")?, a.parsed("rate")?);
        let servers = a.value_or("bootstrap.servers", "localhost:9092")?;
        let output = a.value("output")?;
        a.finish()?;

        env.set_job_name("Join Rides with Fares");
        let datagen = || Datagen::new().count(events).rate(rate);
        let mut ride_generator = TaxiRideGenerator::new();
        let rides = env
            .from_source(datagen(), Raw)
            .set_parallelism(1)
            .uid("rides")
            .flat_map(move |_| ride_generator.next())
            .name("TaxiRideGenerator")
            .filter(|ride: &TaxiRide| ride.is_start)
            .key_by(|ride| ride.ride_id);
        let mut fare_generator = TaxiFareGenerator::new();
        let fares = env
            .from_source(datagen(), Raw)
            .set_parallelism(1)
            .uid("fares")
            .flat_map(move |_| fare_generator.next())
            .name("TaxiFareGenerator")
            .key_by(|fare: &TaxiFare| fare.ride_id);
        let enriched = rides
            .connect(fares)
            .process(Enrichment { ride: ValueState::new("saved ride"), fare: ValueState::new("saved fare") })
            .uid("enrichment")
            .name("enrichment")
            .map(|joined| joined.to_string());
        match output {
            Some(topic) => enriched.sink_to(KafkaSink::new(&servers, &topic), Text),
            None => enriched.print(),
        };
        Ok(())
    }
}

weir_sdk::export_stream_job!(RidesAndFares);
