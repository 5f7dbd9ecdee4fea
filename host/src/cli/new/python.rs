//! `weir new --lang python`: a Python job project. It carries the Python SDK (the `weir_sdk`
//! package, embedded in this binary from `guest-jobs/python/weir_sdk`) and the `weir:job` WIT
//! world under `weir/`, a sample job on `weir_sdk.stream` in `src/`, its unit test on
//! `weir_sdk.testing` in `tests/`, and `weir.toml`, which tells `weir build` to build it with
//! componentize-py.

use std::path::{Path, PathBuf};

use anyhow::bail;

use super::{VENDOR_DIR, files};

/// The Python SDK's package in the repository.
pub(super) const SDK_DIR: &str = "guest-jobs/python/weir_sdk/";

/// The componentize-py release the SDK is built and tested with (`guest-jobs/python/build`
/// pins the same).
pub(crate) const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The file that marks a Python job project, read by `weir build`.
pub(crate) const MARKER: &str = "weir.toml";

/// Names a Python job module cannot take: the SDK's, the bindings', the modules the SDK
/// imports from the standard library, and Python's keywords.
const TAKEN: &[&str] = &[
    "weir_sdk",
    "wit_world",
    "componentize_py_types",
    "componentize_py_runtime",
    "tests",
    "test",
    "src",
    "json",
    "pickle",
    "struct",
    "dataclasses",
    "typing",
    "enum",
    "traceback",
    "sys",
    "os",
    "time",
    "types",
    "re",
    "abc",
    "copy",
    "functools",
    "collections",
    "io",
    "math",
    "string",
    "random",
    "unittest",
    "false",
    "none",
    "true",
    "and",
    "as",
    "assert",
    "async",
    "await",
    "break",
    "class",
    "continue",
    "def",
    "del",
    "elif",
    "else",
    "except",
    "finally",
    "for",
    "from",
    "global",
    "if",
    "import",
    "in",
    "is",
    "lambda",
    "nonlocal",
    "not",
    "or",
    "pass",
    "raise",
    "return",
    "try",
    "while",
    "with",
    "yield",
];

/// The job's module name: `name` with `-` as `_`, checked against what Python and the SDK take.
pub(super) fn module_name(name: &str) -> anyhow::Result<String> {
    let module = name.replace('-', "_");
    let lower = module.to_ascii_lowercase();
    if TAKEN.contains(&lower.as_str()) {
        bail!(
            "\"{name}\" is taken (a Python keyword, a module of the standard library the SDK uses, or the \
             SDK's own); choose another with --name"
        );
    }
    Ok(module)
}

/// Every file of a new Python project `name` (module `module`): (path in the project, contents).
pub(super) fn project_files(name: &str, module: &str) -> anyhow::Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut out: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for (path, bytes) in files::FILES {
        if let Some(file) = path.strip_prefix(SDK_DIR) {
            out.push((Path::new(VENDOR_DIR).join("weir_sdk").join(file), bytes.to_vec()));
        } else if path.starts_with("wit/") {
            out.push((Path::new(VENDOR_DIR).join(path), bytes.to_vec()));
        }
    }
    if !out.iter().any(|(p, _)| p.ends_with("weir_sdk/stream.py")) || !out.iter().any(|(p, _)| p.ends_with("world.wit"))
    {
        bail!("this weir binary embeds no Python SDK ({SDK_DIR}) or no WIT world");
    }
    let fill = |template: &str| template.replace("{{name}}", name).replace("{{module}}", module);
    out.push((MARKER.into(), fill(MARKER_TEMPLATE).into_bytes()));
    out.push((format!("src/{module}.py").into(), fill(JOB_TEMPLATE).into_bytes()));
    out.push((format!("tests/test_{module}.py").into(), fill(TEST_TEMPLATE).into_bytes()));
    out.push(("README.md".into(), fill(README_TEMPLATE).replace("{{version}}", COMPONENTIZE_PY_VERSION).into_bytes()));
    out.push((".gitignore".into(), b"/target/\n/.venv/\n__pycache__/\n".to_vec()));
    out.push((Path::new(VENDOR_DIR).join("README.md"), VENDOR_README.as_bytes().to_vec()));
    Ok(out)
}

const MARKER_TEMPLATE: &str = r#"# A Weir job in Python: `weir build` builds src/{{module}}.py (with the SDK in weir/) into the
# component target/{{module}}.wasm, with componentize-py.
[job]
language = "python"
module = "{{module}}"
"#;

const VENDOR_README: &str = "\
These are the parts of the Weir repository the job is built on: the Python SDK (the `weir_sdk`
package, `guest-jobs/python/weir_sdk` in the repository) and the `weir:job` WIT world (`wit/`),
from which componentize-py generates the host's bindings. `weir new` wrote them from the `weir`
binary that made this project. A newer `weir new --lang python` writes newer ones: copy its
`weir/` over this one to move the job to them.
";

const JOB_TEMPLATE: &str = r#""""{{name}}: a Weir job in Python, on the SDK's typed API (weir_sdk.stream).

It reads lines of text from a Kafka topic, splits them into words, and counts every word in
keyed state: for each word it reads it writes `word,count`, the word's count so far, to the
output topic.

Program arguments: --bootstrap.servers HOST:PORT (default 127.0.0.1:9092), --input TOPIC
(default input), --output TOPIC (default output), --bounded (read the input up to its end as of
the start, then finish).
"""

import dataclasses

import weir_sdk.stream
from weir_sdk.args import Args
from weir_sdk.stream import KafkaSink, KafkaSource, KeyedProcessFunction, StreamJob, Text, ValueState

# Appended to every output line. Set it to ",v2", `weir build`, and `weir upgrade` the running
# job: the lines after the swap end in ",v2", and the counts go on from where they were.
SUFFIX = ""


def tokenize(line):
    """Splits a line into lower-case words: the runs of letters and digits."""
    return "".join(c if c.isalnum() else " " for c in line).lower().split()


def format_count(word, count):
    """One output record: the word and its count so far."""
    return f"{word},{count}{SUFFIX}"


@dataclasses.dataclass
class Tally:
    """What the job keeps per word (stored as JSON: {"count": 3})."""

    count: int = 0


class CountWords(KeyedProcessFunction):
    """Counts the words of its key (Flink's KeyedProcessFunction with a ValueState)."""

    def __init__(self):
        self.tally = ValueState("tally", Tally)

    def process_element(self, word, ctx, out):
        tally = self.tally.value() or Tally()
        tally.count += 1
        self.tally.update(tally)
        out.collect(format_count(word, tally.count))


class Job(StreamJob):
    def build(self, env, args):
        a = Args(args)
        servers = a.value("bootstrap.servers", "127.0.0.1:9092")
        input_topic = a.value("input", "input")
        output_topic = a.value("output", "output")
        bounded = a.flag("bounded")
        a.finish()

        env.set_job_name("{{name}}")
        source = KafkaSource(servers, input_topic).group_id("{{name}}")
        if bounded:
            source = source.bounded()
        # Keyed state is matched by uid across upgrades and savepoints: keep the uids.
        (
            env.from_source(source, Text())
            .uid("source")
            .flat_map(tokenize)
            .name("Tokenizer")
            .key_by(lambda word: word)
            .process(CountWords())
            .uid("counter")
            .name("Counter")
            .sink_to(KafkaSink(servers, output_topic), Text())
            .uid("sink")
        )


# What componentize-py exports: the job's plan and its operators.
Plan, Operator = weir_sdk.stream.export_stream(Job())
"#;

const TEST_TEMPLATE: &str = r#""""Unit tests of {{module}}, in plain CPython: weir_sdk.testing runs the job's own code (the
same weir_sdk.stream the component runs) on an in-memory host, with no component, broker or
cluster. Run them with `python3 -m unittest discover -s tests` (or `pytest`)."""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "src"), os.path.join(HERE, "..", "weir")]

import {{module}} as job  # noqa: E402
from weir_sdk.testing import JobHarness, OperatorHarness  # noqa: E402


class TokenizeTest(unittest.TestCase):
    def test_lines_split_into_lower_case_words(self):
        self.assertEqual(job.tokenize("To be, or NOT to be!"), ["to", "be", "or", "not", "to", "be"])
        self.assertEqual(job.tokenize(" ,;! "), [])


class JobTest(unittest.TestCase):
    def test_every_word_is_counted_in_its_own_state(self):
        # The whole job: a line into the source, the counts out of the sink.
        h = JobHarness.open(job.Job(), ["--output", "counts"])
        h.send("to be or not to be")
        expected = ["to,1", "be,1", "or,1", "not,1", "to,2", "be,2"]
        self.assertEqual(h.take_values(), [line + job.SUFFIX for line in expected])
        # The counter's keyed state, as the cluster stores it (JSON, per word).
        self.assertEqual(h.operator("counter").value_state_json("tally", "to"), {"count": 2})

    def test_the_counter_alone(self):
        # One operator, fed the words as the tokenizer sends them.
        h = OperatorHarness.open(job.Job(), [], "counter")
        for word in ["be", "be", "the"]:
            h.process_element(word)
        self.assertEqual(h.take_values(), [w + job.SUFFIX for w in ["be,1", "be,2", "the,1"]])
        self.assertEqual(h.value_state_json("tally", "be", job.Tally), job.Tally(2))


if __name__ == "__main__":
    unittest.main()
"#;

const README_TEMPLATE: &str = r#"# {{name}}

A Weir job in Python: lines of text from a Kafka topic in, `word,count` out (the running count
of every word, kept in keyed state): `src/{{module}}.py`, on the SDK's typed API
(`weir_sdk.stream`).

`weir/` holds the Weir SDK the job is built on, the `weir_sdk` package and the `weir:job` WIT
world (see `weir/README.md`): nothing else is needed but Python 3.11 or later,
[componentize-py](https://github.com/bytecodealliance/componentize-py) and the `weir` command.

## Build and test

componentize-py turns the job, the SDK and a Python interpreter into a WebAssembly component.
Install it once, in a virtualenv here (`weir build` finds `.venv/bin/componentize-py`; or on
`PATH`; or next to the Python `weir build --python <python>` or `$WEIR_PYTHON` names):

```sh
python3 -m venv .venv && .venv/bin/pip install componentize-py=={{version}}
```

Then:

```sh
weir build                               # componentize-py: src/{{module}}.py into target/{{module}}.wasm
python3 -m unittest discover -s tests    # the unit tests, in plain CPython (pytest runs them too)
```

`weir build` prints

```
Built target/{{module}}.wasm (17.9 MiB)
```

(the component carries a Python interpreter, initialised with the job loaded).
The tests run the job's own code with `weir_sdk.testing`: records in, time moved by hand, output
and keyed state read back, no component or cluster (`tests/test_{{module}}.py`).

## Run it on the playground

A broker and a cluster with no job (in a terminal of its own; Ctrl-C stops it):

```sh
weir playground --no-job
```

Then, here, submit the job, write a few lines to its input and read its output (the
playground's cluster lets jobs reach its own broker, 127.0.0.1:9092, and no other):

```sh
weir run -d target/{{module}}.wasm \
    --bootstrap.servers 127.0.0.1:9092 --input input --output output
Job has been submitted with JobID <jobid>

printf 'to be or not to be\nthat is the question\n' | weir produce --bootstrap.servers 127.0.0.1:9092 --topic input
weir consume --bootstrap.servers 127.0.0.1:9092 --topic output --from-beginning
to,1
be,1
or,1
not,1
to,2
be,2
that,1
...
```

The first run of a component compiles it (a Python component takes seconds).
`weir produce` writes each line of its standard input as a record; `weir consume` prints the
records (Ctrl-C stops it). The playground's `input` has two partitions, read side by side, so
different words may come in another order than written; each word's counts come in order.

## Upgrade the running job

Change the code, build, and swap it into the running job, its state kept: in
`src/{{module}}.py` set

```python
SUFFIX = ",v2"
```

then

```sh
weir build
weir upgrade <jobid> target/{{module}}.wasm
Upgrading job "<jobid>" to target/{{module}}.wasm.
Upgrade completed: SWAPPED at checkpoint 1 in 65 ms (operators: source, counter).

printf 'to be\n' | weir produce --bootstrap.servers 127.0.0.1:9092 --topic input
weir consume --bootstrap.servers 127.0.0.1:9092 --topic output --from-beginning
...
to,3,v2
be,3,v2
```

The job swapped code in place: same job, tasks and Kafka positions, and the counts go on from
where they were, since the per-word state stays in the cluster through the swap (keep the
operators' uids, `source`, `counter` and `sink`, for that). A version that fails is rolled back
by itself. Arguments after the component in `weir upgrade` replace the job's arguments.

`weir list` shows the job; `weir stop <jobid>` stops it with a savepoint, and
`weir run -d -s <savepoint> …` starts it again from there. The state is stored as the Rust
SDK stores it (`tally` holds `{"count":3}`), so the same job written in Rust (`weir new`)
restores this one's savepoints.
"#;
