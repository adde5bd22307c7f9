#!/usr/bin/env bash
# The sharded training branch at scale, one process per task as on AWS (one Lambda invocation
# per task): generate a shop, import it (embedded stores), create a user-personalization
# solution cut into <shards> shards a side, then run every step of the training state machine's
# sharded branch through `tailor training-step` (tests/scale/sharded.py), timing each task.
#   bash tests/scale/sharded.sh [users] [items] [events] [shards]
# TAILOR_SHARD_RANGE_BYTES sets the scan and cut Maps' range size (default 256 MiB).
set -euo pipefail
cd "$(dirname "$0")/../.."
users=${1:-1000000}
items=${2:-100000}
events=${3:-20000000}
shards=${4:-8}
work=${TAILOR_SCALE_DIR:-/tmp/tailor-scale}/$users-$items-$events
mkdir -p "$work"
cargo build -q --release -p tailor-cli
tailor=$PWD/target/release/tailor

if [ ! -s "$work/interactions.csv" ]; then
  echo "== generate $users users x $items items x $events events"
  "$tailor" sample --out "$work" --users "$users" --items "$items" --events "$events"
fi
echo "== import (embedded stores)"
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
export TAILOR_DATA_DIR=$data
"$tailor" create-dataset-group --name scale > /dev/null
"$tailor" create-schema --name scale-i --file schemas/ecommerce-interactions.json > /dev/null
"$tailor" create-dataset --name scale-i --dataset-group scale --schema scale-i --type interactions > /dev/null
"$tailor" import --dataset-group scale --type interactions --file "$work/interactions.csv" | tail -1
solution=$("$tailor" create-solution --name sharded --dataset-group scale --recipe aws-user-personalization \
  --hp "als_shards=$shards" | python3 -c 'import json,sys; print(json.load(sys.stdin)["solutionArn"])')
campaign=${solution/:solution\//:campaign\/}
echo "== the sharded branch, one process per task ($shards shards a side)"
python3 tests/scale/sharded.py "$tailor" "$solution" "$campaign"
