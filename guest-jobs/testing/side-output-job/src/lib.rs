//! A typed job with a side output, for the tests: numbers (text lines) from Kafka topic
//! `numbers`, keyed by their last digit; a keyed function keeps a running sum per key and emits
//! `key:sum` for even numbers on its main output and the odd numbers themselves on the side
//! output `odd`, each written to a topic of its own (`even`, `odd`). A line that is not a
//! number goes to the side output `malformed` (topic `malformed`).
//!
//! Arguments: `--bootstrap.servers`, `--bounded`.

use weir_sdk::args::Args;
use weir_sdk::stream::connectors::{KafkaSink, KafkaSource};
use weir_sdk::stream::state::ValueState;
use weir_sdk::stream::{Collector, Context, Env, KeyedProcessFunction, OutputTag, StreamJob, Text};

fn odd() -> OutputTag<u64> {
    OutputTag::new("odd")
}

fn malformed() -> OutputTag<String> {
    OutputTag::new("malformed")
}

struct Split {
    sum: ValueState<u64>,
}

impl KeyedProcessFunction<String, String, String> for Split {
    fn process_element(
        &mut self,
        line: String,
        ctx: &mut Context<'_, String>,
        out: &mut Collector<'_, String>,
    ) -> Result<(), String> {
        let Ok(n) = line.trim().parse::<u64>() else {
            out.output(&malformed(), line);
            return Ok(());
        };
        if n % 2 == 1 {
            out.output(&odd(), n);
            return Ok(());
        }
        let sum = self.sum.value()?.unwrap_or(0) + n;
        self.sum.update(&sum)?;
        out.collect(format!("{}:{sum}", ctx.current_key()));
        Ok(())
    }
}

struct SideOutputJob;

impl StreamJob for SideOutputJob {
    fn build(env: &mut Env, args: Vec<String>) -> Result<(), String> {
        let mut a = Args::parse(&args)?;
        let servers = a.value_or("bootstrap.servers", "localhost:9092")?;
        let bounded = a.flag("bounded")?;
        a.finish()?;
        let mut source = KafkaSource::new(&servers, "numbers");
        if bounded {
            source = source.bounded();
        }
        let mut evens = env
            .from_source(source, Text)
            .key_by(|line: &String| line.trim().chars().last().map(String::from).unwrap_or_default())
            .process(Split { sum: ValueState::new("sum") })
            .uid("split");
        let odds = evens.get_side_output(&odd());
        let bad = evens.get_side_output(&malformed());
        evens.sink_to(KafkaSink::new(&servers, "even"), Text);
        odds.map(|n| n.to_string()).sink_to(KafkaSink::new(&servers, "odd"), Text);
        bad.sink_to(KafkaSink::new(&servers, "malformed"), Text);
        Ok(())
    }
}

weir_sdk::export_stream_job!(SideOutputJob);
