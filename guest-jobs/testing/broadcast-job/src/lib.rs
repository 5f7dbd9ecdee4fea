//! A typed job with a broadcast stream, for the tests: numbers (text lines) from Kafka topic
//! `numbers`, keyed by their last digit, multiplied by the factor last broadcast on topic
//! `factors` (kept in broadcast state) and written as `n*factor` to topic `out`. Each subtask
//! acknowledges every factor it receives with a `factor F` record, so a test sees that each
//! subtask got each broadcast record once.
//!
//! Arguments: `--bootstrap.servers`.

use weir_sdk::args::Args;
use weir_sdk::stream::connectors::{KafkaSink, KafkaSource};
use weir_sdk::stream::{BroadcastState, Collector, Context, Env, KeyedBroadcastProcessFunction, StreamJob, Text};

struct Multiply {
    factor: BroadcastState<String, u64>,
}

impl KeyedBroadcastProcessFunction<String, u64, u64, String> for Multiply {
    fn process_element(
        &mut self,
        n: u64,
        _ctx: &mut Context<'_, String>,
        out: &mut Collector<'_, String>,
    ) -> Result<(), String> {
        let factor = self.factor.get(&"factor".to_string())?.unwrap_or(1);
        out.collect(format!("{n}*{factor}={}", n * factor));
        Ok(())
    }

    fn process_broadcast_element(&mut self, factor: u64, out: &mut Collector<'_, String>) -> Result<(), String> {
        self.factor.put(&"factor".to_string(), &factor)?;
        out.collect(format!("factor {factor}"));
        Ok(())
    }
}

struct BroadcastJob;

impl StreamJob for BroadcastJob {
    fn build(env: &mut Env, args: Vec<String>) -> Result<(), String> {
        let mut a = Args::parse(&args)?;
        let servers = a.value_or("bootstrap.servers", "localhost:9092")?;
        a.finish()?;
        env.set_job_name("Broadcast Job");
        let factors = env
            .from_source(KafkaSource::new(&servers, "factors").group_id("factors"), Text)
            .flat_map(|line: String| line.trim().parse::<u64>().ok())
            .broadcast();
        env.from_source(KafkaSource::new(&servers, "numbers").group_id("numbers"), Text)
            .flat_map(|line: String| line.trim().parse::<u64>().ok())
            .key_by(|n: &u64| (n % 10).to_string())
            .connect_broadcast(factors)
            .process(Multiply { factor: BroadcastState::new("factor") })
            .uid("multiply")
            .sink_to(KafkaSink::new(&servers, "out"), Text);
        Ok(())
    }
}

weir_sdk::export_stream_job!(BroadcastJob);
