-- wrk script: PutEvents, one event per request, for rotating users and items of the demo.
-- Usage: TRACKING_ID=... wrk -t1 -c8 -d20s --latency -s events.lua http://127.0.0.1:8787
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local tracking = os.getenv("TRACKING_ID") or "missing"
local n = 0
request = function()
  n = n + 1
  local user = string.format("L%05d", n % 5000)
  local item = string.format("P%05d", (n * 7919) % 1500 + 1)
  local body = '{"trackingId":"' .. tracking .. '","userId":"' .. user .. '","sessionId":"s-' .. user ..
    '","eventList":[{"eventType":"View","itemId":"' .. item .. '","sentAt":1767225600}]}'
  return wrk.format(nil, "/events", nil, body)
end
