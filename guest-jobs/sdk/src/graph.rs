//! Building the job graph that `plan` returns.
//!
//! ```ignore
//! let mut g = GraphBuilder::new("Click Event Count");
//! let source = g.source("source", "ClickEvent Source", connector, Some("deserialize"));
//! let counter = g.transform("counter", "ClickEvent Counter", "count", &[(&source, ShipStrategy::Hash)]);
//! g.sink("sink", "ClickEventStatistics Sink", SinkConnector::Discard, &counter);
//! let graph = g.build();
//! ```

pub use crate::bindings::exports::weir::job::plan::{
    DatagenSource, DeliveryGuarantee, EventTime, Input, JobGraph, KafkaSink, KafkaSource, KafkaTopic, Operator,
    OperatorKind, ShipStrategy, SinkConnector, SourceConnector, SourceSpec, StartingOffsets, TimeCharacteristic,
    TransformSpec,
};

/// Flink's default number of key groups.
pub const DEFAULT_MAX_PARALLELISM: u32 = 128;

/// A reference to an operator added to a [`GraphBuilder`].
#[derive(Clone, Debug)]
pub struct OperatorRef {
    uid: String,
    index: usize,
}

/// Builds a [`JobGraph`] operator by operator, in topological order.
pub struct GraphBuilder {
    graph: JobGraph,
}

impl GraphBuilder {
    /// A processing-time job without checkpointing and with 128 key groups.
    pub fn new(name: &str) -> Self {
        GraphBuilder {
            graph: JobGraph {
                name: name.to_string(),
                operators: Vec::new(),
                time: TimeCharacteristic::ProcessingTime,
                checkpoint_interval_ms: None,
                max_parallelism: DEFAULT_MAX_PARALLELISM,
            },
        }
    }

    /// Renames the job.
    pub fn set_name(&mut self, name: &str) {
        self.graph.name = name.to_string();
    }

    fn add(&mut self, uid: &str, name: &str, kind: OperatorKind, inputs: Vec<Input>) -> OperatorRef {
        self.graph.operators.push(Operator {
            uid: uid.to_string(),
            name: name.to_string(),
            kind,
            inputs,
            config: String::new(),
            parallelism: None,
        });
        OperatorRef { uid: uid.to_string(), index: self.graph.operators.len() - 1 }
    }

    /// Adds a source reading from `connector`, its batches handed to the guest `function`.
    pub fn source(&mut self, uid: &str, name: &str, connector: SourceConnector, function: Option<&str>) -> OperatorRef {
        let spec = SourceSpec { connector, function: function.map(String::from) };
        self.add(uid, name, OperatorKind::Source(spec), Vec::new())
    }

    /// Adds an operator running the guest `function` on its inputs.
    pub fn transform(
        &mut self,
        uid: &str,
        name: &str,
        function: &str,
        inputs: &[(&OperatorRef, ShipStrategy)],
    ) -> OperatorRef {
        let inputs = inputs.iter().map(|(op, strategy)| Input { from: op.uid.clone(), strategy: *strategy }).collect();
        self.add(uid, name, OperatorKind::Transform(TransformSpec { function: function.to_string() }), inputs)
    }

    /// Adds a sink fed through a forward edge from `input`.
    pub fn sink(&mut self, uid: &str, name: &str, connector: SinkConnector, input: &OperatorRef) -> OperatorRef {
        let inputs = vec![Input { from: input.uid.clone(), strategy: ShipStrategy::Forward }];
        self.add(uid, name, OperatorKind::Sink(connector), inputs)
    }

    /// Sets the configuration handed back to the operator's subtasks when they open.
    pub fn set_config(&mut self, op: &OperatorRef, config: impl Into<String>) {
        self.graph.operators[op.index].config = config.into();
    }

    /// Sets the operator's own parallelism.
    pub fn set_parallelism(&mut self, op: &OperatorRef, parallelism: u32) {
        self.graph.operators[op.index].parallelism = Some(parallelism);
    }

    /// Uses event time with the given watermark strategy.
    pub fn event_time(&mut self, max_out_of_orderness_ms: u64, idleness_ms: Option<u64>) {
        self.graph.time = TimeCharacteristic::EventTime(EventTime { max_out_of_orderness_ms, idleness_ms });
    }

    /// Checkpoints every `interval_ms`.
    pub fn checkpointing(&mut self, interval_ms: u64) {
        self.graph.checkpoint_interval_ms = Some(interval_ms);
    }

    /// Sets the number of key groups.
    pub fn max_parallelism(&mut self, max_parallelism: u32) {
        self.graph.max_parallelism = max_parallelism;
    }

    /// The finished graph.
    pub fn build(self) -> JobGraph {
        self.graph
    }
}

/// A Kafka topic on the given servers with the given client properties.
pub fn kafka_topic(topic: &str, bootstrap_servers: &str, properties: &[(&str, &str)]) -> KafkaTopic {
    KafkaTopic {
        topic: topic.to_string(),
        bootstrap_servers: bootstrap_servers.to_string(),
        properties: properties.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}
