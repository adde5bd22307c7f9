#!/bin/sh
# Writes a ~1M-row interactions CSV (schemas/movielens-interactions.json) for timing imports:
# MovieLens-small's ratings repeated COPIES times (default 10), each copy's user ids offset by
# copy*100000 so copies are distinct users. Same layout as `tailor demo --movielens`.
#   tests/load/make-1m-csv.sh [ratings.csv] [copies] > /tmp/interactions-1m.csv
set -eu
ratings=${1:-/work/shared/data/movielens-small/ratings.csv}
copies=${2:-10}
echo "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE"
awk -F, -v copies="$copies" '
  { sub(/\r$/, "") }
  NR == FNR && FNR > 1 { u[++n] = $1; i[n] = $2; r[n] = $3; t[n] = $4 }
  END {
    for (c = 0; c < copies; c++)
      for (k = 1; k <= n; k++)
        printf "%d,%s,%s,rating,%s\n", u[k] + c * 100000, i[k], t[k], r[k]
  }' "$ratings"
