-- wrk script: GetRecommendations for a rotating set of known users on the demo campaign.
-- Usage: wrk -t1 -c32 -d60s --latency -s recommendations.lua http://127.0.0.1:8787
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local campaign = os.getenv("CAMPAIGN_ARN") or "arn:aws:personalize:us-east-1:000000000000:campaign/demo-campaign"
local n = 0
request = function()
  n = n + 1
  local user = string.format("U%04d", (n % 800) + 1)
  local body = '{"campaignArn":"' .. campaign .. '","userId":"' .. user .. '","numResults":25}'
  return wrk.format(nil, "/recommendations", nil, body)
end
-- Any non-2xx answer is counted as an error by wrk ("Non-2xx or 3xx responses").
