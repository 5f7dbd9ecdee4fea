//! An embedded Kafka-protocol broker (being written).
