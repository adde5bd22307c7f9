#!/usr/bin/env bash
# Lints the deployment without deploying it: the SAM template (cfn-lint, sam validate, both
# offline), the training state machine's definition and the sample Lambda events.
#
#   bash tests/infra-lint.sh
#
# Tools come from PyPI into a venv at .venv-infra (pinned below; installed on the first run,
# about a minute). Nothing else touches the network: AWS credentials are dummies, and where
# the machine allows it (root, `unshare -n`) the linters run with no network at all, which
# proves it. Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${INFRA_VENV:-$PWD/.venv-infra}"
SAM_CLI_VERSION=1.170.0
CFN_LINT_VERSION=1.58.0
TEMPLATE=infra/template.yaml
ASL=infra/statemachine/training.asl.json

started=$SECONDS
echo "== infra lint: tools (aws-sam-cli $SAM_CLI_VERSION, cfn-lint $CFN_LINT_VERSION in ${VENV#"$PWD"/})"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# As Python 3.13's venv does: the venv ignores itself, so `git add -A` never picks it up.
[ -f "$VENV/.gitignore" ] || printf '# Created by tests/infra-lint.sh\n*\n' >"$VENV/.gitignore"
if ! "$VENV/bin/python" - "$SAM_CLI_VERSION" "$CFN_LINT_VERSION" <<'EOF' 2>/dev/null; then
import sys
from importlib.metadata import version
sys.exit(0 if (version("aws-sam-cli"), version("cfn-lint")) == tuple(sys.argv[1:3]) else 1)
EOF
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "aws-sam-cli==$SAM_CLI_VERSION" "cfn-lint==$CFN_LINT_VERSION"
fi
echo "   ready in $((SECONDS - started)) s"

# Dummy credentials and no shared config: validation must not depend on an AWS account.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export SAM_CLI_TELEMETRY=0
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL
OFFLINE=()
if unshare -n true 2>/dev/null; then
  OFFLINE=(unshare -n)
fi

lint_started=$SECONDS
echo "== infra lint: cfn-lint $TEMPLATE"
${OFFLINE[@]+"${OFFLINE[@]}"} "$VENV/bin/cfn-lint" "$TEMPLATE"

# Plain `sam validate` runs the SAM translator (no AWS call: the template names no managed
# policies for it to look up); --lint adds cfn-lint through SAM CLI's own integration.
echo "== infra lint: sam validate"
${OFFLINE[@]+"${OFFLINE[@]}"} "$VENV/bin/sam" validate --template-file "$TEMPLATE" --region us-east-1
${OFFLINE[@]+"${OFFLINE[@]}"} "$VENV/bin/sam" validate --lint --template-file "$TEMPLATE" --region us-east-1

# The state machine's file is uploaded as is, so the template linters never read it: check its
# graph here, then its schema with cfn-lint through a throwaway template that inlines it.
echo "== infra lint: $ASL"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
"$VENV/bin/python" - "$ASL" "$scratch/asl-template.json" <<'EOF'
import json, re, sys

path, out = sys.argv[1], sys.argv[2]
text = open(path).read()
asl = json.loads(text)
errors = []
states = asl.get("States", {})

# The e2e test substitutes ${TrainFunctionArn} textually: it must be the only placeholder.
placeholders = set(re.findall(r"\$\{([^}]*)\}", text))
if placeholders != {"TrainFunctionArn"}:
    errors.append(f"placeholders must be exactly {{TrainFunctionArn}}, found {sorted(placeholders)}")
if asl.get("QueryLanguage", "JSONPath") != "JSONPath" or any(
        s.get("QueryLanguage", "JSONPath") != "JSONPath" for s in states.values()):
    errors.append("the definition must stay JSONPath (the emulator's JSONata support differs)")

expected = {"Validate": "Task", "Train": "Task", "Evaluate": "Task", "ShouldPromote": "Choice",
            "Promote": "Task", "Promoted": "Succeed", "Skipped": "Succeed",
            "MarkFailed": "Task", "Failed": "Fail"}
for name, kind in expected.items():
    if states.get(name, {}).get("Type") != kind:
        errors.append(f"state {name} must be a {kind} state")
# Two ways in: a version CreateSolutionVersion recorded is adopted, a schedule validates its own.
start = states.get(asl.get("StartAt"), {})
if start.get("Type") != "Choice" or start.get("Default") != "Validate" or [
        (c.get("Variable"), c.get("IsPresent"), c.get("Next")) for c in start.get("Choices", [])
] != [("$.solutionVersionArn", True, "Adopt")]:
    errors.append("StartAt must choose Adopt for an input solutionVersionArn, else Validate")
if states.get("Adopt", {}).get("ResultPath") != "$.validate":
    errors.append("Adopt must name the version under $.validate, as Validate does")
# A version without a campaign ends trained; a retraining goes on to Evaluate.
ends = states.get("ForCampaign", {})
if [(c.get("Variable"), c.get("Next")) for c in ends.get("Choices", [])] != [
        ("$.campaignArn", "Evaluate")] or states.get(ends.get("Default"), {}).get("Type") != "Succeed":
    errors.append("ForCampaign must go to Evaluate with a campaignArn, else succeed")

def targets(state):
    for key in ("Next", "Default"):
        if key in state:
            yield state[key]
    for choice in state.get("Choices", []):
        yield choice["Next"]
    for catcher in state.get("Catch", []):
        yield catcher["Next"]

for name, state in states.items():
    for target in targets(state):
        if target not in states:
            errors.append(f"{name} goes to {target}, which is not a state")
    if state.get("Type") == "Task":
        if state.get("Resource") != "arn:aws:states:::lambda:invoke":
            errors.append(f"{name} must use arn:aws:states:::lambda:invoke")
        if state.get("Parameters", {}).get("FunctionName") != "${TrainFunctionArn}":
            errors.append(f"{name} must invoke ${{TrainFunctionArn}}")
        retried = {e for r in state.get("Retry", []) for e in r["ErrorEquals"]}
        missing = {"Lambda.ServiceException", "Lambda.TooManyRequestsException",
                   "Lambda.SdkClientException"} - retried
        if missing:
            errors.append(f"{name} does not retry {sorted(missing)}")
        if not any("States.ALL" in c["ErrorEquals"] for c in state.get("Catch", [])):
            errors.append(f"{name} catches no States.ALL")
for name, want in (("ScanRanges", "shardScan"), ("CutRanges", "shardCut"),
                   ("BuildUserRows", "shardUsers"), ("BuildItemRows", "shardItems"),
                   ("SolveUsers", "solveUsers"), ("SolveItems", "solveItems")):
    state = states.get(name, {})
    inner = state.get("ItemProcessor", {}).get("States", {})
    actions = [s.get("Parameters", {}).get("Payload", {}).get("action") for s in inner.values()]
    if state.get("Type") != "Map" or actions != [want]:
        errors.append(f"{name} must be a Map of one task sending action {want}, not {actions}")
    if state.get("ItemProcessor", {}).get("ProcessorConfig", {}).get("Mode") != "DISTRIBUTED":
        errors.append(f"{name} must be a Distributed Map")
for name, want in (("Validate", "validate"), ("Sharding", "adopt"), ("Train", "train"),
                   ("ShardPrepare", "shardPrepare"), ("ShardPlan", "shardPlan"),
                   ("ShardFinish", "shardFinish"),
                   ("Evaluate", "evaluate"), ("Promote", "promote"), ("MarkFailed", "fail")):
    action = states.get(name, {}).get("Parameters", {}).get("Payload", {}).get("action")
    if action != want:
        errors.append(f"{name} must send action {want}, not {action}")
if "TimeoutSeconds" not in states.get("Train", {}):
    errors.append("Train needs a TimeoutSeconds")

seen, todo = set(), [asl.get("StartAt")]
while todo:
    name = todo.pop()
    if name in seen or name not in states:
        continue
    seen.add(name)
    todo.extend(targets(states[name]))
for name in sorted(set(states) - seen):
    errors.append(f"state {name} is unreachable")

if errors:
    sys.exit("\n".join(f"{path}: {e}" for e in errors))
print(f"   {len(states)} states, all reachable; the only substitution is ${{TrainFunctionArn}}")

json.dump({
    "AWSTemplateFormatVersion": "2010-09-09",
    "Parameters": {"TrainFunctionArn": {"Type": "String"}, "RoleArn": {"Type": "String"}},
    "Resources": {"TrainingStateMachine": {
        "Type": "AWS::StepFunctions::StateMachine",
        "Properties": {"RoleArn": {"Ref": "RoleArn"}, "Definition": asl,
                       "DefinitionSubstitutions": {"TrainFunctionArn": {"Ref": "TrainFunctionArn"}}}}},
}, open(out, "w"))
EOF
${OFFLINE[@]+"${OFFLINE[@]}"} "$VENV/bin/cfn-lint" "$scratch/asl-template.json"

BATCH_ASL=infra/statemachine/batch.asl.json
echo "== infra lint: $BATCH_ASL"
"$VENV/bin/python" - "$BATCH_ASL" "$scratch/batch-template.json" <<'EOF'
import json, re, sys

path, out = sys.argv[1], sys.argv[2]
text = open(path).read()
asl = json.loads(text)
errors = []
states = asl.get("States", {})
placeholders = set(re.findall(r"\$\{([^}]*)\}", text))
if placeholders != {"BatchFunctionArn", "Bucket"}:
    errors.append(f"placeholders must be exactly BatchFunctionArn and Bucket, found {sorted(placeholders)}")
shards = states.get("Shards", {})
if shards.get("Type") != "Map" or shards.get("ItemProcessor", {}).get("ProcessorConfig", {}).get("Mode") != "DISTRIBUTED":
    errors.append("Shards must be a Distributed Map")
if shards.get("ItemReader", {}).get("Resource") != "arn:aws:states:::s3:getObject":
    errors.append("Shards must read the manifest with an s3:getObject ItemReader")
for key in ("MaxConcurrency", "ToleratedFailurePercentage"):
    if key not in shards:
        errors.append(f"Shards needs {key}")
inner = shards.get("ItemProcessor", {}).get("States", {}).get("Shard", {})
if not any("States.ALL" in r["ErrorEquals"] for r in inner.get("Retry", [])):
    errors.append("a shard must be retried")
for name, want in (("Plan", "plan"), ("Run", "run"), ("Join", "join"), ("Fail", "fail")):
    if states.get(name, {}).get("Parameters", {}).get("Payload", {}).get("action") != want:
        errors.append(f"{name} must send action {want}")
def targets(state):
    for key in ("Next", "Default"):
        if key in state:
            yield state[key]
    for choice in state.get("Choices", []):
        yield choice["Next"]
    for catcher in state.get("Catch", []):
        yield catcher["Next"]
seen, todo = set(), [asl.get("StartAt")]
while todo:
    name = todo.pop()
    if name in seen or name not in states:
        continue
    seen.add(name)
    todo.extend(targets(states[name]))
for name in sorted(set(states) - seen):
    errors.append(f"state {name} is unreachable")
for name, state in states.items():
    for target in targets(state):
        if target not in states:
            errors.append(f"{name} goes to {target}, which is not a state")
    if state.get("Type") == "Task" and name != "Fail" and not any(
            "States.ALL" in c["ErrorEquals"] for c in state.get("Catch", [])):
        errors.append(f"{name} catches no States.ALL")
if errors:
    sys.exit("\n".join(f"{path}: {e}" for e in errors))
print(f"   {len(states)} states, all reachable; a Distributed Map over the manifest")
json.dump({
    "AWSTemplateFormatVersion": "2010-09-09",
    "Parameters": {"BatchFunctionArn": {"Type": "String"}, "Bucket": {"Type": "String"},
                   "RoleArn": {"Type": "String"}},
    "Resources": {"BatchStateMachine": {
        "Type": "AWS::StepFunctions::StateMachine",
        "Properties": {"RoleArn": {"Ref": "RoleArn"}, "Definition": asl,
                       "DefinitionSubstitutions": {"BatchFunctionArn": {"Ref": "BatchFunctionArn"},
                                                   "Bucket": {"Ref": "Bucket"}}}}},
}, open(out, "w"))
EOF
${OFFLINE[@]+"${OFFLINE[@]}"} "$VENV/bin/cfn-lint" "$scratch/batch-template.json"

# The operations dashboard's body is a JSON string CloudFormation only passes on: parse it here
# (placeholders filled in), check every widget and alarm it names exists, and that each alarm
# watches this stack's metrics and stays quiet while the stack is idle.
echo "== infra lint: dashboard and alarms"
"$VENV/bin/python" - "$TEMPLATE" <<'EOF'
import json, re, sys
from cfnlint.decode import decode

path = sys.argv[1]
template, matches = decode(path)
if matches:
    sys.exit(f"{path}: cannot read: {matches}")
resources = template["Resources"]
errors = []
dash = resources.get("OperationsDashboard", {})
if dash.get("Type") != "AWS::CloudWatch::Dashboard":
    sys.exit(f"{path}: no OperationsDashboard")
text, variables = dash["Properties"]["DashboardBody"]["Fn::Sub"]
for name in set(re.findall(r"\$\{([^}]*)\}", text)):
    base = name.split(".")[0]
    if not (base in variables or base in resources or base.startswith("AWS::")):
        errors.append(f"dashboard placeholder ${{{name}}} names nothing")
body = json.loads(re.sub(r"\$\{[^}]*\}", "x", text))
titles = [w["properties"].get("title") for w in body["widgets"]]
for want in ("Requests per minute", "4xx and 5xx errors per minute", "Latency p50 / p99 (ms)",
             "Training runs", "Alarms"):
    if want not in titles:
        errors.append(f"dashboard has no widget {want!r}")
stats = {m[-1].get("stat") for w in body["widgets"] for m in w["properties"].get("metrics", [])
         if isinstance(m[-1], dict)}
if not {"p50", "p99"} <= stats:
    errors.append(f"latency widget must show p50 and p99, shows {stats}")
alarms = {k: r for k, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
for want in ("ServerErrorRateAlarm", "LatencyAlarm", "TrainingFailedAlarm"):
    if want not in alarms:
        errors.append(f"no alarm {want}")
    elif f"${{{want}.Arn}}" not in text:
        errors.append(f"the dashboard's alarm widget does not show {want}")
for name, alarm in alarms.items():
    props = alarm["Properties"]
    metrics = [props] + [m["MetricStat"]["Metric"] for m in props.get("Metrics", [])
                         if "MetricStat" in m]
    for m in metrics:
        if m.get("Namespace") == "Tailor" and m.get("Dimensions") != [
                {"Name": "Service", "Value": {"Ref": "AWS::StackName"}}]:
            errors.append(f"{name}: a Tailor metric not scoped to this stack's Service")
    if props.get("TreatMissingData") != "notBreaching":
        errors.append(f"{name}: an idle stack must not alarm (TreatMissingData notBreaching)")
if errors:
    sys.exit("\n".join(f"{path}: {e}" for e in errors))
print(f"   {len(body['widgets'])} widgets, {len(alarms)} alarms")
EOF

# Sample events: valid JSON of the shape each trigger sends, matching the template's routes
# and the bucket notification's filter.
echo "== infra lint: events/*.json"
"$VENV/bin/python" - "$TEMPLATE" events <<'EOF'
import json, sys
from pathlib import Path
from cfnlint.decode import decode

template_path, events_dir = sys.argv[1], Path(sys.argv[2])
template, matches = decode(template_path)
if matches:
    sys.exit(f"{template_path}: cannot read: {matches}")
resources = template["Resources"]

routes = {}
for logical_id, res in resources.items():
    if res.get("Type") != "AWS::Serverless::Function":
        continue
    for event in res["Properties"].get("Events", {}).values():
        if event["Type"] == "HttpApi":
            p = event["Properties"]
            routes[f'{p["Method"]} {p["Path"]}'] = logical_id
s3_rules = {r["Name"]: r["Value"] for r in resources["DataBucket"]["Properties"]
            ["NotificationConfiguration"]["LambdaConfigurations"][0]["Filter"]["S3Key"]["Rules"]}

errors, seen_routes = [], set()
files = sorted(events_dir.glob("*.json"))
if not files:
    errors.append(f"no sample events in {events_dir}/")
for f in files:
    try:
        event = json.loads(f.read_text())
    except json.JSONDecodeError as e:
        errors.append(f"{f}: not JSON: {e}")
        continue
    if "Records" in event:
        for r in event["Records"]:
            key = r["s3"]["object"]["key"]
            if not r.get("eventName", "").startswith("ObjectCreated:"):
                errors.append(f"{f}: eventName {r.get('eventName')} is not ObjectCreated:*")
            if not (key.startswith(s3_rules["prefix"]) and key.endswith(s3_rules["suffix"])):
                errors.append(f"{f}: key {key} does not match the notification filter {s3_rules}")
            for field in ("eTag", "sequencer", "size"):
                if field not in r["s3"]["object"]:
                    errors.append(f"{f}: s3.object has no {field}")
    elif event.get("version") == "2.0":
        route, ctx = event.get("routeKey"), event.get("requestContext", {})
        method, path = ctx.get("http", {}).get("method"), event.get("rawPath")
        # A route's {parameter} matches one path segment, which pathParameters names.
        params = event.get("pathParameters") or {}
        expected = route or ""
        for name, value in params.items():
            expected = expected.replace("{" + name + "}", value)
        if expected != f"{method} {path}" or ctx.get("routeKey") != route:
            errors.append(f"{f}: routeKey {route} disagrees with {method} {path}")
        if route not in routes:
            errors.append(f"{f}: route {route} is not in the template ({sorted(routes)})")
        seen_routes.add(route)
        if event.get("isBase64Encoded") is not False:
            errors.append(f"{f}: isBase64Encoded must be false")
        headers = event.get("headers", {})
        if method == "GET":
            # The console's files: no body to check.
            if "body" in event:
                errors.append(f"{f}: a GET has no body")
            continue
        if route == "POST /":
            # The control plane: AWS JSON 1.1, the operation in X-Amz-Target.
            if headers.get("content-type") != "application/x-amz-json-1.1":
                errors.append(f"{f}: the control plane's content-type is application/x-amz-json-1.1")
            if not headers.get("x-amz-target", "").startswith("AmazonPersonalize."):
                errors.append(f"{f}: x-amz-target must name AmazonPersonalize.<Operation>")
        elif headers.get("content-type") != "application/json":
            errors.append(f"{f}: content-type must be application/json")
        try:
            json.loads(event["body"])
        except (KeyError, TypeError, json.JSONDecodeError) as e:
            errors.append(f"{f}: body is not a JSON string: {e}")
    elif set(event) == {"datasetImportJobArn"}:
        # The control function handing the import function a job it recorded.
        if ":dataset-import-job/" not in event["datasetImportJobArn"]:
            errors.append(f"{f}: datasetImportJobArn is not an import job's ARN")
    elif "action" in event:
        if event["action"] not in {"validate", "adopt", "train", "evaluate", "promote", "fail", "autoTrain"}:
            errors.append(f"{f}: unknown action {event['action']}")
    else:
        errors.append(f"{f}: neither an S3 event, an HTTP API event nor a train task payload")
for route in sorted(set(routes) - seen_routes):
    errors.append(f"no sample event for route {route} ({routes[route]})")

if errors:
    sys.exit("\n".join(errors))
print(f"   {len(files)} events; every route of the template has one")
EOF

echo "== infra lint: clean (lint $((SECONDS - lint_started)) s, total $((SECONDS - started)) s)"
