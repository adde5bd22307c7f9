#!/bin/sh
# Times a local-mode import of the 1M-row interactions CSV (make-1m-csv.sh) into a fresh data
# dir, with GNU time's peak RSS:  tests/load/import-1m.sh path/to/tailor [csv]
set -eu
tailor=$1
csv=${2:-/tmp/interactions-1m.csv}
root=$(cd "$(dirname "$0")/../.." && pwd)
[ -f "$csv" ] || "$root/tests/load/make-1m-csv.sh" > "$csv"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export TAILOR_DATA_DIR="$dir"
"$tailor" create-dataset-group --name load > /dev/null
"$tailor" create-schema --name load-interactions --file "$root/schemas/movielens-interactions.json" > /dev/null
"$tailor" create-dataset --name load-interactions --dataset-group load --schema load-interactions --type interactions > /dev/null
/usr/bin/time -v "$tailor" import --dataset-group load --type interactions --file "$csv" 2>&1 |
  grep -E 'ACTIVE|FAILED|rows|Elapsed|Maximum resident|error'
