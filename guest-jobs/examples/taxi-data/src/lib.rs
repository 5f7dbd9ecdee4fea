//! The taxi data of the Apache Flink training (<https://github.com/apache/flink-training>,
//! `common/src/main/java/org/apache/flink/training/exercises/common`), ported to Rust.
//!
//! - [`TaxiRide`], [`TaxiFare`], [`RideAndFare`]: the records, with the Java `toString()` as
//!   `Display`; times are epoch milliseconds (`i64`) where the Java has `Instant`.
//! - [`DataGenerator`]: every field of a ride or fare, derived from the ride id.
//! - [`TaxiRideGenerator`], [`TaxiFareGenerator`]: the two sources, as iterators yielding the
//!   same sequences as the Java `SourceFunction`s (which only add sleeps).
//! - [`geo_utils::is_in_nyc`]: the Ride Cleansing exercise's filter.
//!
//! The generator is deterministic: each value comes from a `java.util.Random` seeded with the
//! ride id. [`java_random::JavaRandom`] ports that generator (and fdlibm's `log`, which
//! `nextGaussian` uses) bit for bit, so every ride, fare and event order equals the Java's; the
//! tests check values printed by the Java sources running on a JDK.
#![deny(missing_docs)]

mod data_generator;
mod datatypes;
pub mod geo_utils;
mod java_fmt;
pub mod java_random;
mod sources;

pub use data_generator::{BEGINNING_MILLIS, DataGenerator, NUMBER_OF_DRIVERS, SECONDS_BETWEEN_RIDES};
pub use datatypes::{RideAndFare, TaxiFare, TaxiRide};
pub use sources::{BATCH_SIZE, SLEEP_MILLIS_PER_EVENT, TaxiFareGenerator, TaxiRideGenerator};

#[cfg(test)]
mod java_parity_tests;
