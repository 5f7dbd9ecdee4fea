//! Flink's streaming WordCount (`flink-examples-streaming`'s `WordCount`) on Weir's typed job
//! API: lines of text from a Kafka topic are split into lower-case words, and for every word the
//! running count is emitted as `(word,count)`, as Flink's example prints its tuples.
//!
//! Program arguments: `--bootstrap.servers HOST:PORT` (default `localhost:9092`), `--input
//! TOPIC` (default `lines`), `--output TOPIC` (written to Kafka; without it the counts are
//! printed on the TaskManager's standard output), `--bounded` (stop at the input's end as of
//! start-up, so the job finishes).

use weir_sdk::args::Args;
use weir_sdk::stream::connectors::{KafkaSink, KafkaSource};
use weir_sdk::stream::{Env, StreamJob, Text};

struct WordCount;

impl StreamJob for WordCount {
    fn build(env: &mut Env, args: Vec<String>) -> Result<(), String> {
        let mut args = Args::parse(&args)?;
        let servers = args.value_or("bootstrap.servers", "localhost:9092")?;
        let input = args.value_or("input", "lines")?;
        let output = args.value("output")?;
        let bounded = args.flag("bounded")?;
        args.finish()?;

        env.set_job_name("WordCount");
        let mut source = KafkaSource::new(&servers, &input).group_id("word-count");
        if bounded {
            source = source.bounded();
        }
        let counts = env
            .from_source(source, Text)
            .flat_map(|line: String| {
                line.split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .map(str::to_lowercase)
                    .collect::<Vec<_>>()
            })
            .name("Tokenizer")
            .map(|word| (word, 1u64))
            .key_by(|(word, _)| word.clone())
            .reduce(|(word, a), (_, b)| (word, a + b))
            .uid("counter")
            .map(|(word, count)| format!("({word},{count})"));
        match output {
            Some(topic) => counts.sink_to(KafkaSink::new(&servers, &topic), Text).uid("sink"),
            None => counts.print().uid("sink"),
        };
        Ok(())
    }
}

weir_sdk::export_stream_job!(WordCount);
