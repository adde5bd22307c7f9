#!/usr/bin/env bash
# The scale benchmark: generate a shop, import it, train and evaluate user-personalization on the
# QUALITY.md split, run implicit's ALS on the same split side by side, then time
# GetRecommendations through the real answer path at that catalogue size.
#
#   bash tests/scale/run.sh [users] [items] [events]      (default 1000000 100000 20000000)
#
# Needs a release build (it makes one) and, for the implicit column, PyPI (a venv in
# target/scale-venv). Work files go to ${TAILOR_SCALE_DIR:-/tmp/tailor-scale}.
set -euo pipefail
cd "$(dirname "$0")/../.."
users=${1:-1000000}
items=${2:-100000}
events=${3:-20000000}
eval_users=${TAILOR_SCALE_EVAL_USERS:-5000}
work=${TAILOR_SCALE_DIR:-/tmp/tailor-scale}/$users-$items-$events
mkdir -p "$work"
cargo build -q --release -p tailor-cli
tailor=$PWD/target/release/tailor
timed() { /usr/bin/time -f "    wall %e s, peak RSS %M KB" "$@"; }

echo "== generate $users users x $items items x $events events"
if [ ! -s "$work/interactions.csv" ]; then
  timed "$tailor" sample --out "$work" --users "$users" --items "$items" --events "$events"
fi

echo "== import (embedded stores)"
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
export TAILOR_DATA_DIR=$data
"$tailor" create-dataset-group --name scale > /dev/null
"$tailor" create-schema --name scale-i --file schemas/ecommerce-interactions.json > /dev/null
"$tailor" create-dataset --name scale-i --dataset-group scale --schema scale-i --type interactions > /dev/null
timed "$tailor" import --dataset-group scale --type interactions --file "$work/interactions.csv" | tail -1

echo "== tailor user-personalization: fit on the training part, evaluate $eval_users held-out users"
timed "$tailor" evaluate --interactions "$work/interactions.csv" --max-users "$eval_users"

echo "== implicit ALS (64 factors, 15 iterations), same split, same users"
venv=target/scale-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check implicit numpy scipy threadpoolctl
fi
timed "$venv/bin/python" tests/scale/implicit_als.py "$work/interactions.csv" --max-users "$eval_users"

echo "== GetRecommendations through the real answer path at $items items (and recall@10 against exact scoring), and the cold start"
TAILOR_BENCH_ITEMS=$items cargo bench -q -p tailor-core --bench recommend -- --warm-up-time 1 --measurement-time 3 2>&1 |
  grep -E "GetRecommendations|recommend_batch|recall@10|time:" || true
TAILOR_BENCH_ITEMS=$items cargo bench -q -p tailor-core --bench coldstart 2>&1 | grep -Ev "^\s*$|Warming|Collecting|Analyzing|Found|outlier|mild|severe" || true
