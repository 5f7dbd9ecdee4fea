//! The records: `TaxiRide`, `TaxiFare` and `RideAndFare`.

use core::cmp::Ordering;
use core::fmt;

use serde::{Deserialize, Serialize};

use crate::data_generator::DataGenerator;
use crate::java_fmt::{write_java_float, write_java_instant};

/// A taxi ride event: every ride has a START event and an END event with the same `ride_id`;
/// `is_start` tells which one this is.
///
/// The Java type's `Instant eventTime` is `event_time` here, in milliseconds since the epoch.
/// `Display` prints the Java `toString()`:
/// `rideId,START|END,eventTime,startLon,startLat,endLon,endLat,passengerCnt,taxiId,driverId`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaxiRide {
    /// The ride's id, the same for its START and END events.
    pub ride_id: i64,
    /// `true` for the START event, `false` for the END event.
    pub is_start: bool,
    /// When the event happened (the ride's start time or end time), in epoch milliseconds.
    pub event_time: i64,
    /// Longitude of the start location.
    pub start_lon: f32,
    /// Latitude of the start location.
    pub start_lat: f32,
    /// Longitude of the end location.
    pub end_lon: f32,
    /// Latitude of the end location.
    pub end_lat: f32,
    /// Number of passengers.
    pub passenger_cnt: i16,
    /// The taxi's id.
    pub taxi_id: i64,
    /// The driver's id.
    pub driver_id: i64,
}

impl TaxiRide {
    /// `new TaxiRide(rideId, isStart)`: invents the START or END event of a ride with
    /// [`DataGenerator`].
    pub fn new(ride_id: i64, is_start: bool) -> Self {
        let g = DataGenerator::new(ride_id);
        TaxiRide {
            ride_id,
            is_start,
            event_time: if is_start { g.start_time() } else { g.end_time() },
            start_lon: g.start_lon(),
            start_lat: g.start_lat(),
            end_lon: g.end_lon(),
            end_lat: g.end_lat(),
            passenger_cnt: g.passenger_cnt(),
            taxi_id: g.taxi_id(),
            driver_id: g.driver_id(),
        }
    }

    /// `getEventTimeMillis()`: the event time in epoch milliseconds.
    pub fn event_time_millis(&self) -> i64 {
        self.event_time
    }

    /// `compareTo`: orders by event time, and a START before an END with the same time.
    pub fn compare_to(&self, other: &TaxiRide) -> Ordering {
        self.event_time.cmp(&other.event_time).then_with(|| other.is_start.cmp(&self.is_start))
    }
}

impl fmt::Display for TaxiRide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{},", self.ride_id, if self.is_start { "START" } else { "END" })?;
        write_java_instant(f, self.event_time)?;
        for coordinate in [self.start_lon, self.start_lat, self.end_lon, self.end_lat] {
            f.write_str(",")?;
            write_java_float(f, coordinate)?;
        }
        write!(f, ",{},{},{}", self.passenger_cnt, self.taxi_id, self.driver_id)
    }
}

/// Payment information about a taxi ride, with the ride's id, taxi, driver and start time.
///
/// The Java type's `Instant startTime` is `start_time` here, in milliseconds since the epoch.
/// `Display` prints the Java `toString()`:
/// `rideId,taxiId,driverId,startTime,paymentType,tip,tolls,totalFare`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaxiFare {
    /// The ride's id.
    pub ride_id: i64,
    /// The taxi's id.
    pub taxi_id: i64,
    /// The driver's id.
    pub driver_id: i64,
    /// The ride's start time, in epoch milliseconds (equal to its START event's time).
    pub start_time: i64,
    /// `"CARD"` or `"CASH"`.
    pub payment_type: String,
    /// The tip.
    pub tip: f32,
    /// The tolls.
    pub tolls: f32,
    /// The total fare, tip and tolls included.
    pub total_fare: f32,
}

impl TaxiFare {
    /// `new TaxiFare(rideId)`: invents the fare of a ride with [`DataGenerator`].
    pub fn new(ride_id: i64) -> Self {
        let g = DataGenerator::new(ride_id);
        TaxiFare {
            ride_id,
            taxi_id: g.taxi_id(),
            driver_id: g.driver_id(),
            start_time: g.start_time(),
            payment_type: g.payment_type().to_owned(),
            tip: g.tip(),
            tolls: g.tolls(),
            total_fare: g.total_fare(),
        }
    }

    /// `getEventTimeMillis()`: the fare's start time in epoch milliseconds.
    pub fn event_time_millis(&self) -> i64 {
        self.start_time
    }
}

impl fmt::Display for TaxiFare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{},{},", self.ride_id, self.taxi_id, self.driver_id)?;
        write_java_instant(f, self.start_time)?;
        write!(f, ",{}", self.payment_type)?;
        for value in [self.tip, self.tolls, self.total_fare] {
            f.write_str(",")?;
            write_java_float(f, value)?;
        }
        Ok(())
    }
}

/// A ride's START event joined with its fare (the Rides and Fares exercise's output).
///
/// `Display` prints the Java `toString()`: `<ride / fare>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RideAndFare {
    /// The ride.
    pub ride: TaxiRide,
    /// The fare.
    pub fare: TaxiFare,
}

impl RideAndFare {
    /// Pairs a ride with a fare.
    pub fn new(ride: TaxiRide, fare: TaxiFare) -> Self {
        RideAndFare { ride, fare }
    }
}

impl fmt::Display for RideAndFare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} / {}>", self.ride, self.fare)
    }
}
