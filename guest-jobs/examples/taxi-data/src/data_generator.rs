//! `DataGenerator`: every field of a ride or fare, derived deterministically from the ride id.

use crate::geo_utils::{LAT_NORTH, LAT_SOUTH, LON_EAST, LON_WEST};
use crate::java_random::{JavaRandom, java_round};

/// Rides start this many seconds apart (ride `n` starts `n * 20` s after [`BEGINNING_MILLIS`]).
pub const SECONDS_BETWEEN_RIDES: i64 = 20;
/// Driver (and taxi) ids are `2013000000 + k` for `k` in `0..NUMBER_OF_DRIVERS`.
pub const NUMBER_OF_DRIVERS: i32 = 200;
/// `DataGenerator.BEGINNING`, 2020-01-01T12:00:00Z, in milliseconds since the epoch.
pub const BEGINNING_MILLIS: i64 = 1_577_880_000_000;

/// `DataGenerator`: generates the fields of [`TaxiRide`](crate::TaxiRide) and
/// [`TaxiFare`](crate::TaxiFare) from a ride id.
///
/// Every method seeds a fresh [`JavaRandom`] from the ride id (or the ride id + 42 for the end
/// location), exactly as the Java does, so the values equal the Java ones bit for bit; and the
/// START event time of a ride equals the start time of its fare.
///
/// Times are milliseconds since the epoch. The Java methods throw (`Instant` overflow) for ride
/// ids of absurd magnitude (beyond about ±4.6·10^14); the time methods here panic instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataGenerator {
    ride_id: i64,
}

impl DataGenerator {
    /// A generator for the given ride id.
    pub fn new(ride_id: i64) -> Self {
        DataGenerator { ride_id }
    }

    /// The ride id this generator is for.
    pub fn ride_id(&self) -> i64 {
        self.ride_id
    }

    /// The start time: [`BEGINNING_MILLIS`] plus `20 * ride_id` seconds.
    pub fn start_time(&self) -> i64 {
        SECONDS_BETWEEN_RIDES
            .checked_mul(self.ride_id)
            .and_then(|s| s.checked_mul(1000))
            .and_then(|ms| ms.checked_add(BEGINNING_MILLIS))
            .expect("ride id out of range for an event time")
    }

    /// The end time: the start time plus the ride's duration in whole minutes.
    pub fn end_time(&self) -> i64 {
        self.start_time().checked_add(60_000 * self.ride_duration_minutes()).expect("end time out of range")
    }

    /// The driver id, `2013000000 + new Random(rideId).nextInt(200)`.
    pub fn driver_id(&self) -> i64 {
        let mut rnd = JavaRandom::new(self.ride_id);
        i64::from(2_013_000_000 + rnd.next_int_bounded(NUMBER_OF_DRIVERS))
    }

    /// The taxi id, which is the driver id.
    pub fn taxi_id(&self) -> i64 {
        self.driver_id()
    }

    /// The start latitude: a truncated Gaussian around the middle of NYC's box, some outside it.
    pub fn start_lat(&self) -> f32 {
        let (min, max) = lat_range();
        a_float(self.ride_id, min, max)
    }

    /// The start longitude.
    pub fn start_lon(&self) -> f32 {
        let (min, max) = lon_range();
        a_float(self.ride_id, min, max)
    }

    /// The end latitude (seeded with `ride_id + 42`).
    pub fn end_lat(&self) -> f32 {
        let (min, max) = lat_range();
        a_float(self.ride_id.wrapping_add(42), min, max)
    }

    /// The end longitude (seeded with `ride_id + 42`).
    pub fn end_lon(&self) -> f32 {
        let (min, max) = lon_range();
        a_float(self.ride_id.wrapping_add(42), min, max)
    }

    /// The passenger count, in `1..=4`.
    pub fn passenger_cnt(&self) -> i16 {
        self.a_long(1, 4) as i16
    }

    /// The payment type: `"CARD"` for even ride ids, `"CASH"` for odd ones.
    pub fn payment_type(&self) -> &'static str {
        if self.ride_id % 2 == 0 { "CARD" } else { "CASH" }
    }

    /// The tip, a whole number in `0..=60`.
    pub fn tip(&self) -> f32 {
        self.a_long_with(0, 60, 10.0, 15.0) as f32
    }

    /// The tolls: a whole number in `0..=5` for every tenth ride id, 0 otherwise.
    pub fn tolls(&self) -> f32 {
        if self.ride_id % 10 == 0 { self.a_long(0, 5) as f32 } else { 0.0 }
    }

    /// The total fare: `3 + duration in minutes + tip + tolls`.
    pub fn total_fare(&self) -> f32 {
        (3.0 + self.ride_duration_minutes() as f64 + f64::from(self.tip()) + f64::from(self.tolls())) as f32
    }

    /// The ride's duration in whole minutes, in `0..=600` (private in the Java; a few rides
    /// last longer than two hours, for the Long Ride Alerts exercise).
    pub fn ride_duration_minutes(&self) -> i64 {
        self.a_long_with(0, 600, 20.0, 40.0)
    }

    fn a_long(&self, min: i64, max: i64) -> i64 {
        let mean = (min + max) as f32 / 2.0;
        let stddev = (max - min) as f32 / 8.0;
        self.a_long_with(min, max, mean, stddev)
    }

    fn a_long_with(&self, min: i64, max: i64, mean: f32, stddev: f32) -> i64 {
        let mut rnd = JavaRandom::new(self.ride_id);
        loop {
            // Java: Math.round((stddev * rnd.nextGaussian()) + mean), computed in double
            let value = java_round(f64::from(stddev) * rnd.next_gaussian() + f64::from(mean));
            if value >= min && value <= max {
                return value;
            }
        }
    }
}

/// `[(float) (LAT_SOUTH - 0.1), (float) (LAT_NORTH + 0.1F)]`, with Java's mixed-precision sums.
fn lat_range() -> (f32, f32) {
    ((LAT_SOUTH - 0.1) as f32, (LAT_NORTH + f64::from(0.1_f32)) as f32)
}

/// `[(float) (LON_WEST - 0.1), (float) (LON_EAST + 0.1F)]`.
fn lon_range() -> (f32, f32) {
    ((LON_WEST - 0.1) as f32, (LON_EAST + f64::from(0.1_f32)) as f32)
}

fn a_float(seed: i64, min: f32, max: f32) -> f32 {
    let mean = (min + max) / 2.0;
    let stddev = (max - min) / 8.0;
    let mut rnd = JavaRandom::new(seed);
    loop {
        // Java: (float) (stddev * rnd.nextGaussian()) + mean
        let value = (f64::from(stddev) * rnd.next_gaussian()) as f32 + mean;
        if value >= min && value <= max {
            return value;
        }
    }
}
