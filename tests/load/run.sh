#!/usr/bin/env bash
# Load test of the local server on 127.0.0.1 (never another address): GetRecommendations on the
# demo campaign for DURATION seconds, then PutEvents throughput, then a check that an event is
# visible to the very next request. Prints wrk's figures and the server's resident memory.
# Usage: bash tests/load/run.sh [DURATION_SECONDS=60] [CONNECTIONS=8]
# wrk runs on the same machine, so the server gets one core fewer than the machine has (at least
# one) and wrk the rest, as a separate load machine would have them: on 2 cores a server using
# both competes with wrk for them and the tail measures the scheduler. TOKIO_WORKER_THREADS
# (read by the server's tokio runtime) overrides it.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-60}
CONNECTIONS=${2:-8}
PORT=${PORT:-8797}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
# TAILOR_BIN runs another build (e.g. an earlier commit's) for before/after figures.
if [ -z "${TAILOR_BIN:-}" ]; then
  cargo build --release -q -p tailor-cli
fi
BIN=${TAILOR_BIN:-target/release/tailor}
DATA=$(mktemp -d)
SERVER=
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
$BIN --data-dir "$DATA" demo --no-serve > "$DATA/demo.out" 2>&1
TRACKING_ID=$(grep -o 'trackingId [0-9a-f-]*' "$DATA/demo.out" | cut -d' ' -f2)
CORES=$(nproc)
WORKERS=${TOKIO_WORKER_THREADS:-$(( CORES > 1 ? CORES - 1 : 1 ))}
echo "server: $WORKERS worker thread(s) of $CORES cores; wrk: 1 thread"
TOKIO_WORKER_THREADS=$WORKERS $BIN --data-dir "$DATA" serve --port "$PORT" > "$DATA/serve.out" 2>&1 &
SERVER=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/ping" >/dev/null && break; sleep 0.1; done
rss() { awk '/VmRSS/ {print $2 " kB"}' /proc/$SERVER/status; }
URL="http://127.0.0.1:$PORT"
CAMPAIGN=arn:aws:personalize:us-east-1:000000000000:campaign/demo-campaign

# Warm up, then measure.
wrk -t1 -c"$CONNECTIONS" -d5s -s tests/load/recommendations.lua "$URL" >/dev/null
echo "server RSS before: $(rss)"
echo "== GetRecommendations, ${DURATION}s, $CONNECTIONS connections"
wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s tests/load/recommendations.lua "$URL"
echo "server RSS after: $(rss)"

echo "== PutEvents, 20s, $CONNECTIONS connections"
TRACKING_ID=$TRACKING_ID wrk -t1 -c"$CONNECTIONS" -d20s --latency -s tests/load/events.lua "$URL"
echo "server RSS after events: $(rss)"

echo "== next-request visibility after the event load"
before=$(curl -s -X POST "$URL/recommendations" -H 'content-type: application/json' \
  -d "{\"campaignArn\":\"$CAMPAIGN\",\"userId\":\"fresh-visitor\",\"numResults\":5}")
curl -sf -X POST "$URL/events" -H 'content-type: application/json' \
  -d "{\"trackingId\":\"$TRACKING_ID\",\"userId\":\"fresh-visitor\",\"sessionId\":\"fv\",\"eventList\":[{\"eventType\":\"View\",\"itemId\":\"P00004\",\"sentAt\":1767225600},{\"eventType\":\"View\",\"itemId\":\"P00024\",\"sentAt\":1767225601}]}" >/dev/null
after=$(curl -s -X POST "$URL/recommendations" -H 'content-type: application/json' \
  -d "{\"campaignArn\":\"$CAMPAIGN\",\"userId\":\"fresh-visitor\",\"numResults\":5}")
# Viewed items stay candidates (as in Personalize), so the check is that the answer moved.
if [ "$before" != "$after" ]; then
  echo "visible: the next answer changed"
else
  echo "NOT VISIBLE: before=$before after=$after" >&2
  exit 1
fi
