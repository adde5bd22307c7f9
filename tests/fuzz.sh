#!/usr/bin/env bash
# Long runs of the property tests that read client text: the CSV reader (tests/it/csv_prop.rs),
# the filter-expression parser and the request decoder (tests/it/fuzz.rs). Each target runs
# batches of PROPTEST_CASES with fresh random seeds until SECONDS_EACH have passed (targets run
# side by side), then prints its cases and seconds. The test command runs the same properties
# at proptest's default 256 cases.
# Usage: bash tests/fuzz.sh [SECONDS_EACH=600]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-600}
bin=$(cargo test --release -p tailor-core --test it --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "it":
        print(m["executable"])' | tail -1)
[ -x "$bin" ] || { echo "could not build the it test binary" >&2; exit 1; }
out=$(mktemp -d)
run() { # name, test filter, cases per property per batch
  local name=$1 filter=$2 batch=$3 start=$SECONDS cases=0
  while (( SECONDS - start < SECONDS_EACH )); do
    if ! (cd functions/core && PROPTEST_CASES=$batch "$bin" "$filter" -q >"$out/$name.log" 2>&1); then
      echo "$name: FAILED"; tail -40 "$out/$name.log"; return 1
    fi
    local props
    props=$(grep -o '[0-9]* passed' "$out/$name.log" | cut -d' ' -f1)
    (( props > 0 )) || { echo "$name: no test matches $filter"; return 1; }
    cases=$(( cases + batch * props ))
  done
  echo "$name: $cases cases in $(( SECONDS - start )) s, no failure"
}
run csv-reader csv_prop:: 2000 & a=$!
run filter-parser fuzz::fuzz_filter_parser 100000 & b=$!
run request-decoder fuzz::fuzz_request_decoder 100000 & c=$!
status=0
for p in $a $b $c; do wait "$p" || status=1; done
exit $status
