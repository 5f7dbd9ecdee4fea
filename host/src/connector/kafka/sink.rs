//! The Kafka sink writer of one subtask: at least once, by flushing (waiting for every record
//! to be acknowledged) whenever it is asked to, at checkpoints and at the end.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use super::client_config;
use crate::connector::{ConnectorError, SinkWriter};
use crate::jobgraph::{DeliveryGuarantee, KafkaSink};

/// Remembers the first failed delivery, which fails the sink.
#[derive(Clone, Default)]
struct DeliveryContext {
    failure: Arc<Mutex<Option<String>>>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
            failure.get_or_insert_with(|| error.to_string());
        }
    }
}

pub struct KafkaWriter {
    producer: BaseProducer<DeliveryContext>,
    topic: String,
    context: DeliveryContext,
}

impl KafkaWriter {
    pub fn new(spec: &KafkaSink) -> Result<Self, ConnectorError> {
        let acks = match spec.delivery_guarantee {
            DeliveryGuarantee::None => "1",
            _ => "all",
        };
        let context = DeliveryContext::default();
        let producer = client_config(&spec.topic, &[("acks", acks), ("linger.ms", "5")], true)
            .create_with_context(context.clone())?;
        Ok(KafkaWriter { producer, topic: spec.topic.topic.clone(), context })
    }

    fn check_failure(&self) -> Result<(), ConnectorError> {
        match self.context.failure.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(error) => {
                Err(ConnectorError::Kafka(format!("a record could not be written to '{}': {error}", self.topic)))
            }
            None => Ok(()),
        }
    }
}

impl SinkWriter for KafkaWriter {
    fn write(&mut self, batch: &[u8]) -> Result<(), ConnectorError> {
        for record in weir_frame::records(batch) {
            let record = record?;
            let mut message = BaseRecord::<[u8], [u8]>::to(&self.topic).payload(record.value);
            if !record.key.is_empty() {
                message = message.key(record.key);
            }
            loop {
                match self.producer.send(message) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // librdkafka's queue is full: let it deliver, then retry.
                        self.producer.poll(Duration::from_millis(50));
                        self.check_failure()?;
                        message = back;
                    }
                    Err((error, _)) => return Err(error.into()),
                }
            }
        }
        self.producer.poll(Duration::ZERO);
        self.check_failure()
    }

    fn flush(&mut self, timeout: Duration) -> Result<(), ConnectorError> {
        self.producer.flush(timeout)?;
        self.check_failure()
    }
}
