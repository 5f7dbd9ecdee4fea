//! Apache Flink training's *Long Ride Alerts* exercise (`LongRidesSolution`) on the typed job
//! API: the id of every ride that lasts more than two hours, as soon as that is known — from
//! its END event, or from an event-time timer two hours after its START when no END has come.
//!
//! Rides come from the training's generator (ported in `taxi-data`), driven by a datagen source,
//! or with `--input TOPIC` as JSON from Kafka (as the Python example reads them, whose
//! savepoints this job restores: same uids, keys and state); watermarks trail them by 60 s.
//! Arguments: `--events N`, `--rate R`, `--input TOPIC`, `--bounded`, `--bootstrap.servers`,
//! `--output TOPIC` (otherwise printed).

use taxi_data::{TaxiRide, TaxiRideGenerator};
use weir_sdk::args::Args;
use weir_sdk::stream::connectors::{Datagen, KafkaSink, KafkaSource};
use weir_sdk::stream::state::ValueState;
use weir_sdk::stream::{Collector, Context, Env, Json, KeyedProcessFunction, Raw, StreamJob, Text};

const TWO_HOURS_MS: i64 = 2 * 60 * 60 * 1000;

/// Remembers a ride's first event; alerts when the ride turns out longer than two hours.
struct Alert {
    ride: ValueState<TaxiRide>,
}

fn too_long(start: &TaxiRide, end: &TaxiRide) -> bool {
    end.event_time - start.event_time > TWO_HOURS_MS
}

impl KeyedProcessFunction<i64, TaxiRide, i64> for Alert {
    fn process_element(
        &mut self,
        ride: TaxiRide,
        ctx: &mut Context<'_, i64>,
        out: &mut Collector<'_, i64>,
    ) -> Result<(), String> {
        match self.ride.value()? {
            None => {
                if ride.is_start {
                    ctx.register_event_time_timer(ride.event_time + TWO_HOURS_MS);
                }
                self.ride.update(&ride)?;
            }
            Some(first) => {
                if ride.is_start {
                    if too_long(&ride, &first) {
                        out.collect(ride.ride_id);
                    }
                } else {
                    // The first event was the START: its timer has not fired yet.
                    ctx.delete_event_time_timer(first.event_time + TWO_HOURS_MS);
                    if too_long(&first, &ride) {
                        out.collect(ride.ride_id);
                    }
                }
                self.ride.clear()?;
            }
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        _time: i64,
        _ctx: &mut Context<'_, i64>,
        out: &mut Collector<'_, i64>,
    ) -> Result<(), String> {
        if let Some(ride) = self.ride.value()? {
            out.collect(ride.ride_id);
        }
        self.ride.clear()
    }
}

struct LongRideAlerts;

impl StreamJob for LongRideAlerts {
    fn build(env: &mut Env, args: Vec<String>) -> Result<(), String> {
        let mut a = Args::parse(&args)?;
        let (events, rate): (Option<u64>, Option<u64>) = (a.parsed("events")?, a.parsed("rate")?);
        let servers = a.value_or("bootstrap.servers", "localhost:9092")?;
        let output = a.value("output")?;
        let input = a.value("input")?;
        let bounded = a.flag("bounded")?;
        a.finish()?;

        env.set_job_name("Long Taxi Rides");
        env.set_event_time(60_000, None);
        let datagen = Datagen::new().count(events).rate(rate);
        let rides = match input {
            Some(topic) => {
                let mut kafka = KafkaSource::new(&servers, &topic).group_id("long-ride-alerts");
                if bounded {
                    kafka = kafka.bounded();
                }
                env.from_source(kafka, Json::<TaxiRide>::new())
            }
            None => {
                let mut generator = TaxiRideGenerator::new();
                env.from_source(datagen, Raw)
                    .set_parallelism(1)
                    .flat_map(move |_| generator.next())
                    .name("TaxiRideGenerator")
            }
        };
        let alerts = rides
            .assign_timestamps(TaxiRide::event_time_millis)
            .key_by(|ride: &TaxiRide| ride.ride_id)
            .process(Alert { ride: ValueState::new("ride event") })
            .uid("alerts")
            .name("AlertFunction")
            .map(|id| id.to_string());
        match output {
            Some(topic) => alerts.sink_to(KafkaSink::new(&servers, &topic), Text),
            None => alerts.print(),
        };
        Ok(())
    }
}

weir_sdk::export_stream_job!(LongRideAlerts);
