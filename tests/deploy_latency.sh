#!/usr/bin/env bash
# Deploy latency of a large component: run request -> every task RUNNING, twice (first: the
# TaskManagers lack the component; second: after a cancel, they have it). Each TaskManager has
# its own component cache, as on its own machine. Prints both figures, in milliseconds.
# Usage: tests/deploy_latency.sh target/release/weir target/guest-jobs/python/click_event_count_py.wasm
set -euo pipefail
W=$1; C=$2; D=$(mktemp -d); REST=18181; RPC=16181
trap 'kill $(jobs -p) 2>/dev/null; rm -rf $D' EXIT
WEIR_CACHE_DIR=$D/jm-cache $W jobmanager -Drest.port=$REST -Djobmanager.rpc.port=$RPC --data-dir $D/jm >$D/jm.log 2>&1 &
for i in 1 2; do WEIR_CACHE_DIR=$D/tm$i-cache $W taskmanager --jobmanager 127.0.0.1:$RPC -Dtaskmanager.host=127.0.0.1 >$D/tm$i.log 2>&1 & done
until curl -sf localhost:$REST/overview | grep -q '"taskmanagers":2'; do sleep 0.2; done
jar=$(curl -sf -X POST -H "Expect:" -F "jarfile=@$C" localhost:$REST/jars/upload | python3 -c 'import json,sys; print(json.load(sys.stdin)["filename"].split("/")[-1])')
for round in first second; do
  t0=$(date +%s%N)
  job=$(curl -sf -X POST -d '{"programArgs":"--source datagen --datagen.rate 100 --sink discard","parallelism":2}' localhost:$REST/jars/$jar/run | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobid"])')
  until curl -sf localhost:$REST/jobs/$job | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["status-counts"].get("RUNNING",0)==sum(v["parallelism"] for v in d["vertices"]) else 1)' 2>/dev/null; do sleep 0.05; done
  t1=$(date +%s%N)
  echo "$round deploy: $(( (t1-t0)/1000000 )) ms"
  curl -sf -X PATCH "localhost:$REST/jobs/$job?mode=cancel" >/dev/null
  until curl -sf localhost:$REST/jobs/$job | grep -q '"state":"CANCELED"'; do sleep 0.1; done
done
grep -h "fetched a component\|compiled component" $D/tm*.log | sed 's/^.*INFO //' | head
