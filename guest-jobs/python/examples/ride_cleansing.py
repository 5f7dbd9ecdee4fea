"""Apache Flink training's *Ride Cleansing* exercise on the Python typed job API: keep the taxi
rides that start and end in New York City.

Rides are read as JSON from a Kafka topic (``--input``, default ``rides``; the fields of the
training's ``TaxiRide``) and written back as JSON (``--output``, otherwise printed).
Arguments: ``--bootstrap.servers``, ``--input``, ``--output``, ``--bounded``.
"""

import struct

import weir_sdk
from weir_sdk import Args
from weir_sdk.stream import Env, Json, KafkaSink, KafkaSource, StreamJob

LON_EAST, LON_WEST, LAT_NORTH, LAT_SOUTH = -73.7, -74.05, 41.0, 40.5


def f32(x: float) -> float:
    """The ride's coordinates are Java floats: compare them as the Java does."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def is_in_nyc(lon: float, lat: float) -> bool:
    lon, lat = f32(lon), f32(lat)
    return not (lon > LON_EAST or lon < LON_WEST) and not (lat > LAT_NORTH or lat < LAT_SOUTH)


class RideCleansing(StreamJob):
    def build(self, env: Env, args):
        a = Args(args)
        servers = a.value("bootstrap.servers", "localhost:9092")
        source = KafkaSource(servers, a.value("input", "rides")).group_id("ride-cleansing")
        output = a.value("output")
        if a.flag("bounded"):
            source = source.bounded()
        a.finish()

        env.set_job_name("Taxi Ride Cleansing")
        rides = env.from_source(source, Json()).filter(
            lambda r: is_in_nyc(r["start_lon"], r["start_lat"]) and is_in_nyc(r["end_lon"], r["end_lat"])
        ).name("NYCFilter")
        if output:
            rides.sink_to(KafkaSink(servers, output), Json())
        else:
            rides.print()


Plan, Operator = weir_sdk.stream.export_stream(RideCleansing())
