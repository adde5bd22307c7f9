#!/usr/bin/env bash
# Batch figures (issue 13), release build, embedded stores:
#   1. MovieLens latest-small: batch inference for all 610 users on every core, and on one thread
#      (what one Lambda shard does: its per-user time prices a shard); a 50-item segment
#      (aws-item-affinity) over the 610 users.
#   2. The scale generator's shop: batch inference for every user of a 100k-user x 100k-item
#      catalogue (users/s), one shard's work (5,000 users on one thread, loading included),
#      and a 1,000-item segment over its users (users x items / s).
#
#   bash tests/load/batch.sh [movielens dir] [users] [items] [events]
set -euo pipefail
cd "$(dirname "$0")/../.."
ml=${1:-../shared/data/movielens-small}
users=${2:-100000}
items=${3:-100000}
events=${4:-2000000}
cargo build -q --release -p tailor-cli
t=$PWD/target/release/tailor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TAILOR_DATA_DIR=$work/data
took() { grep -o "in [0-9.]* s"; }

echo "== MovieLens: demo data, user-personalization and aws-item-affinity"
"$t" demo --movielens "$ml" --no-serve > "$work/demo.log"
tail -n +2 "$ml/ratings.csv" | cut -d, -f1 | sort -un | awk '{printf "{\"userId\":\"%s\"}\n",$1}' > "$work/users.json"
"$t" create-solution --name movielens-affinity --dataset-group movielens --recipe aws-item-affinity > /dev/null
"$t" train --solution movielens-affinity > /dev/null
tail -n +2 "$ml/ratings.csv" | cut -d, -f2 | sort | uniq -c | sort -rn | awk 'NR <= 50' |
  awk '{printf "{\"itemId\":\"%s\"}\n",$2}' > "$work/items.json"
for threads in 0 1; do
  for run in 1 2 3; do
    echo "batch inference, $(wc -l < "$work/users.json") users, threads=$threads (0 = all cores), run $run: $("$t" batch-inference --solution movielens-personalization --input "$work/users.json" --output "$work/out" --threads "$threads" | took)"
  done
done
for run in 1 2 3; do
  echo "batch segment, 50 items over 610 users, run $run: $("$t" batch-segment --solution movielens-affinity --input "$work/items.json" --output "$work/seg" --num-results 100 | took)"
done

echo "== generated shop: $users users x $items items x $events events"
"$t" sample --out "$work/shop" --users "$users" --items "$items" --events "$events" > /dev/null
"$t" create-dataset-group --name scale > /dev/null
"$t" create-schema --name scale-i --file schemas/ecommerce-interactions.json > /dev/null
"$t" create-dataset --name scale-i --dataset-group scale --schema scale-i --type interactions > /dev/null
"$t" import --dataset-group scale --type interactions --file "$work/shop/interactions.csv" > /dev/null
"$t" create-solution --name scale-up --dataset-group scale --recipe aws-user-personalization > /dev/null
"$t" train --solution scale-up > /dev/null
"$t" create-solution --name scale-aff --dataset-group scale --recipe aws-item-affinity > /dev/null
"$t" train --solution scale-aff > /dev/null
tail -n +2 "$work/shop/interactions.csv" | cut -d, -f1 | sort -u | awk '{printf "{\"userId\":\"%s\"}\n",$1}' > "$work/shop-users.json"
tail -n +2 "$work/shop/interactions.csv" | cut -d, -f2 | sort -u | awk 'NR <= 1000' | awk '{printf "{\"itemId\":\"%s\"}\n",$1}' > "$work/shop-items.json"
n=$(wc -l < "$work/shop-users.json")
s=$("$t" batch-inference --solution scale-up --input "$work/shop-users.json" --output "$work/shop-out" | took | tr -dc '0-9.')
echo "batch inference, $n users at $items items: $s s = $(awk -v n="$n" -v s="$s" 'BEGIN{printf "%.0f", n/s}') users/s"
# One Lambda shard's work: 5,000 users (TAILOR_BATCH_SHARD_LINES) on one thread, loading the
# model and the group's data included; its time prices a shard in the README's cost table.
head -n 5000 "$work/shop-users.json" > "$work/shard.json"
for run in 1 2 3; do
  echo "one shard, 5000 users at $items items, one thread, run $run: $("$t" batch-inference --solution scale-up --input "$work/shard.json" --output "$work/shard-out" --threads 1 | took)"
done
# A segment file holds at most 500 item queries (Personalize's limit): two files of 500.
mkdir -p "$work/shop-seg-in"
split -l 500 -d "$work/shop-items.json" "$work/shop-seg-in/part"
s=$("$t" batch-segment --solution scale-aff --input "$work/shop-seg-in" --output "$work/shop-seg" --num-results 100 | took | tr -dc '0-9.')
echo "batch segment, 1000 items over $n users: $s s = $(awk -v n="$n" -v s="$s" 'BEGIN{printf "%.3g", n*1000/s}') users x items / s"
