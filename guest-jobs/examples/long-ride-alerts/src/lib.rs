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

/// The training's `LongRidesUnitTest`, on `weir_sdk::testing`: the job's own alert operator on an
/// in-memory host, events and the watermark fed by hand.
#[cfg(test)]
mod tests {
    use super::*;
    use weir_sdk::testing::OperatorHarness;

    const T0: i64 = 1_577_880_000_000; // 2020-01-01T12:00:00Z, the training's BEGINNING
    const MINUTE: i64 = 60_000;

    fn event(ride_id: i64, is_start: bool, event_time: i64) -> TaxiRide {
        TaxiRide {
            ride_id,
            is_start,
            event_time,
            start_lon: 0.0,
            start_lat: 0.0,
            end_lon: 0.0,
            end_lat: 0.0,
            passenger_cnt: 1,
            taxi_id: 1,
            driver_id: 1,
        }
    }

    fn harness() -> OperatorHarness {
        OperatorHarness::open_stream::<LongRideAlerts>(&[], "alerts").expect("the alert operator opens")
    }

    fn send(h: &mut OperatorHarness, ride: TaxiRide) {
        let ts = ride.event_time;
        h.process_keyed(&ride.ride_id, &ride, ts).expect("processed");
    }

    #[test]
    fn a_short_ride_raises_no_alert_and_leaves_no_state() {
        let mut h = harness();
        send(&mut h, event(1, true, T0));
        send(&mut h, event(1, false, T0 + MINUTE));
        h.advance_watermark(T0 + 3 * 60 * MINUTE).unwrap();
        assert!(h.take_output_text().unwrap().is_empty());
        assert_eq!(h.keyed_value_state::<i64, TaxiRide>("ride event", &1).unwrap(), None);
        assert!(h.timers().is_empty());
    }

    #[test]
    fn a_long_ride_is_reported_by_its_end() {
        let mut h = harness();
        send(&mut h, event(2, true, T0));
        h.advance_watermark(T0 + 60 * MINUTE).unwrap();
        send(&mut h, event(2, false, T0 + 3 * 60 * MINUTE));
        assert_eq!(h.take_output_text().unwrap(), ["2"]);
        assert!(h.timers().is_empty(), "the START's timer was deleted");
    }

    #[test]
    fn a_ride_without_end_is_reported_by_its_timer_two_hours_after_the_start() {
        let mut h = harness();
        send(&mut h, event(3, true, T0));
        h.advance_watermark(T0 + 2 * 60 * MINUTE - 1).unwrap();
        assert!(h.take_output_text().unwrap().is_empty());
        h.advance_watermark(T0 + 2 * 60 * MINUTE).unwrap();
        assert_eq!(h.take_output_text().unwrap(), ["3"]);
        // The END, late, raises no second alert.
        send(&mut h, event(3, false, T0 + 3 * 60 * MINUTE));
        assert!(h.take_output_text().unwrap().is_empty());
    }

    #[test]
    fn an_end_before_its_start_is_matched_when_the_start_comes() {
        let mut h = harness();
        send(&mut h, event(4, false, T0 + 3 * 60 * MINUTE));
        assert!(h.take_output_text().unwrap().is_empty());
        send(&mut h, event(4, true, T0));
        assert_eq!(h.take_output_text().unwrap(), ["4"]);
        assert_eq!(h.keyed_value_state::<i64, TaxiRide>("ride event", &4).unwrap(), None);
    }
}
