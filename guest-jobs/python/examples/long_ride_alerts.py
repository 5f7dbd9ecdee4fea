"""Apache Flink training's *Long Ride Alerts* exercise on the Python typed job API: the id of
every ride that lasts more than two hours, from its END event or from an event-time timer two
hours after its START. Its state (``ride event``, under uid ``alerts``) is the Rust example's.

Rides are read as JSON from a Kafka topic (``--input``, default ``rides``). Arguments:
``--bootstrap.servers``, ``--input``, ``--output`` (otherwise printed), ``--bounded``.
"""

from dataclasses import dataclass

import weir_sdk
from weir_sdk import Args
from weir_sdk.stream import Env, Json, KafkaSink, KafkaSource, KeyedProcessFunction, StreamJob, Text, ValueState

TWO_HOURS_MS = 2 * 60 * 60 * 1000


@dataclass
class TaxiRide:
    ride_id: int
    is_start: bool
    event_time: int
    start_lon: float
    start_lat: float
    end_lon: float
    end_lat: float
    passenger_cnt: int
    taxi_id: int
    driver_id: int


def too_long(start: TaxiRide, end: TaxiRide) -> bool:
    return end.event_time - start.event_time > TWO_HOURS_MS


class Alert(KeyedProcessFunction):
    def __init__(self):
        self.ride = ValueState("ride event", TaxiRide)

    def process_element(self, ride, ctx, out):
        first = self.ride.value()
        if first is None:
            if ride.is_start:
                ctx.register_event_time_timer(ride.event_time + TWO_HOURS_MS)
            self.ride.update(ride)
            return
        if ride.is_start:
            if too_long(ride, first):
                out.collect(ride.ride_id)
        else:
            # The first event was the START: its timer has not fired yet.
            ctx.delete_event_time_timer(first.event_time + TWO_HOURS_MS)
            if too_long(first, ride):
                out.collect(ride.ride_id)
        self.ride.clear()

    def on_timer(self, timestamp, ctx, out):
        ride = self.ride.value()
        if ride is not None:
            out.collect(ride.ride_id)
        self.ride.clear()


class LongRideAlerts(StreamJob):
    def build(self, env: Env, args):
        a = Args(args)
        servers = a.value("bootstrap.servers", "localhost:9092")
        source = KafkaSource(servers, a.value("input", "rides")).group_id("long-ride-alerts")
        output = a.value("output")
        if a.flag("bounded"):
            source = source.bounded()
        a.finish()

        env.set_job_name("Long Taxi Rides")
        env.set_event_time(60_000)
        alerts = (
            env.from_source(source, Json(TaxiRide))
            .assign_timestamps(lambda ride: ride.event_time)
            .key_by(lambda ride: ride.ride_id, key_type=int)
            .process(Alert())
            .uid("alerts")
            .name("AlertFunction")
            .map(str)
        )
        if output:
            alerts.sink_to(KafkaSink(servers, output), Text())
        else:
            alerts.print()


Plan, Operator = weir_sdk.stream.export_stream(LongRideAlerts())
