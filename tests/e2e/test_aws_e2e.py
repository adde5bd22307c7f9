"""tailor on (emulated) AWS, end to end: the five Lambda functions built from this repository,
deployed to the emulator at AWS_ENDPOINT_URL (MiniStack on 127.0.0.1:4566, see MINISTACK.md),
driven the way a user drives the real deployment:

  the `tailor --aws` CLI creates the dataset group, schema, dataset, solution and event tracker;
  an SSE-KMS upload under imports/ starts the import through the S3 notification;
  the training state machine (infra/statemachine/training.asl.json) trains and promotes a
  campaign through `arn:aws:states:::lambda:invoke`, and trains a version through its sharded
  branch (Distributed Maps of one train invocation per shard) to the single-process model;
  boto3's personalize-runtime and personalize-events clients call the HTTP API (API Gateway v2,
  Lambda proxy integrations, payload 2.0) — GetRecommendations, GetPersonalizedRanking, PutEvents;
  and everything at rest is encrypted under the deployment's KMS key.

Every resource is named after a fresh run id and deleted at the end. Function logs (CloudWatch
Logs group /aws/lambda/<name>) are written to $TAILOR_E2E_LOG_DIR (default target/e2e/).

Environment: AWS_ENDPOINT_URL (default http://127.0.0.1:4566), TAILOR_LAMBDA_DIR (the five
binaries; default target/debug), TAILOR_BIN (default target/debug/tailor), TAILOR_E2E_ROWS
(MovieLens rows to import; default 20000), TAILOR_TRAINING_ASL (default
infra/statemachine/training.asl.json). `tests/e2e/run.sh` sets them.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import shutil
import stat
import struct
import subprocess
import time
import uuid
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote_plus

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[2]
ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566").rstrip("/")
REGION = "us-east-1"
ACCOUNT = "000000000000"
LAMBDA_DIR = Path(os.environ.get("TAILOR_LAMBDA_DIR") or ROOT / "target" / "debug")
TAILOR_BIN = Path(os.environ.get("TAILOR_BIN") or ROOT / "target" / "debug" / "tailor")
ASL_PATH = Path(os.environ.get("TAILOR_TRAINING_ASL") or ROOT / "infra" / "statemachine" / "training.asl.json")
RATINGS = ROOT.parent / "shared" / "data" / "movielens-small" / "ratings.csv"
ROWS = int(os.environ.get("TAILOR_E2E_ROWS", "20000"))
LOG_DIR = Path(os.environ.get("TAILOR_E2E_LOG_DIR") or ROOT / "target" / "e2e")

FUNCTIONS = {  # short name -> binary; each is deployed as `bootstrap`
    "import": "tailor-import",
    "train": "tailor-train",
    "recommend": "tailor-recommend",
    "rank": "tailor-rank",
    "events": "tailor-events",
    "control": "tailor-control",
    "batch": "tailor-batch",
}
TIMEOUTS = {"import": 300, "train": 900, "recommend": 60, "rank": 60, "events": 60, "control": 60,
            "batch": 300}
BATCH_ASL_PATH = ROOT / "infra" / "statemachine" / "batch.asl.json"
ROUTES = {
    "POST /": "control",
    "POST /recommendations": "recommend",
    "POST /personalize-ranking": "rank",
    "POST /events": "events",
    "POST /items": "events",
    "POST /users": "events",
}

GROUP = "movielens"
UPLOAD_KEY = f"imports/{GROUP}/INTERACTIONS/ratings.csv"
PERSONALIZE = f"arn:aws:personalize:{REGION}:{ACCOUNT}"
CAMPAIGN = f"{PERSONALIZE}:campaign/movielens-e2e"
CAMPAIGN_B = f"{PERSONALIZE}:campaign/movielens-e2e-unloaded"
IMPORT_JOBS_TABLE = "dataset-import-jobs"  # functions/core/src/services/catalog.rs
CAMPAIGNS_TABLE = "campaigns"
USER = "1"


# --- clients and helpers --------------------------------------------------------------------------

def client(service: str, **config):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(**config) if config else None,
    )


def lambda_client():
    # Training and importing run inside one synchronous Invoke.
    return client("lambda", read_timeout=960, retries={"total_max_attempts": 1})


def wait_until(what: str, check, timeout: float, interval: float = 0.5, detail=lambda: ""):
    """Polls `check` until it returns a truthy value, which is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{detail()}")
        time.sleep(interval)


def bootstrap_zip(binary: Path, workdir: Path) -> bytes:
    """A deployment package: the binary as an executable `bootstrap`, debug info stripped from a
    copy (debug builds can exceed Lambda's 250 MiB unzipped limit), stored uncompressed (the
    emulator takes it faster than deflating takes)."""
    copy = workdir / binary.name
    stripped = shutil.which("strip") and subprocess.run(
        ["strip", "--strip-debug", "-o", str(copy), str(binary)], capture_output=True).returncode == 0
    if not stripped:  # not an ELF file strip knows: deployed as it is
        shutil.copyfile(binary, copy)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = (stat.S_IFREG | 0o755) << 16
        info.compress_type = zipfile.ZIP_STORED
        z.writestr(info, copy.read_bytes())
    copy.unlink()
    return buf.getvalue()


def function_logs(logs, function_name: str) -> str:
    """The function's CloudWatch Logs output, oldest first."""
    group = f"/aws/lambda/{function_name}"
    try:
        streams = []
        kwargs = {"logGroupName": group}
        while True:
            page = logs.describe_log_streams(**kwargs)
            streams += page.get("logStreams", [])
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
    except ClientError:
        return ""
    events = []
    for s in streams:
        page = logs.get_log_events(logGroupName=group, logStreamName=s["logStreamName"],
                                   startFromHead=True)
        events += page.get("events", [])
    events.sort(key=lambda e: (e["timestamp"], e.get("ingestionTime", 0)))
    return "\n".join(e["message"].rstrip("\n") for e in events)


def tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def unframe_record(table: str, key: str, stored: bytes) -> bytes:
    assert stored[:4] == b"TLR\x01", f"{table}/{key} has no record header: {stored[:8]!r}"
    crc = 0
    for part in (table.encode(), key.encode()):
        crc = zlib.crc32(struct.pack("<Q", len(part)) + part, crc)
    value = stored[8:]
    assert zlib.crc32(value, crc) == struct.unpack("<I", stored[4:8])[0], f"{table}/{key} checksum"
    return value


def meta_records(ddb, table_name: str, tbl: str) -> list[dict]:
    """The records of one port table in the meta table. Each value (type B) is a checked
    record, `"TLR" | 1 | crc32(table, key, JSON) | JSON` (functions/core/src/store/checked.rs);
    the frame is verified here so the on-table format is tested too."""
    out, kwargs = [], {
        "TableName": table_name,
        "IndexName": "by-table",
        "KeyConditionExpression": "tbl = :t",
        "ExpressionAttributeValues": {":t": {"S": tbl}},
    }
    while True:
        page = ddb.query(**kwargs)
        for item in page["Items"]:
            out.append(json.loads(unframe_record(tbl, item["key"]["S"], item["value"]["B"])))
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def interactions_csv(rows: int) -> bytes:
    """The first `rows` MovieLens ratings as a Personalize interactions CSV (schema
    schemas/movielens-interactions.json; the conversion `tailor demo --movielens` makes)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"])
    with RATINGS.open(newline="") as f:
        r = csv.reader(f)
        next(r)
        for i, (user, movie, rating, ts) in enumerate(r):
            if i >= rows:
                break
            w.writerow([user, movie, ts, "rating", rating])
    return out.getvalue().encode()


def s3_event(bucket: str, key: str, size: int, etag: str) -> dict:
    """An S3 ObjectCreated:Put notification, as S3 (and MiniStack) deliver it."""
    return {"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "EXAMPLE"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": uuid.uuid4().hex, "x-amz-id-2": "EXAMPLE"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "tailor-imports",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "EXAMPLE"},
                       "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag,
                       "sequencer": "0055AED6DCD90281E5"},
        },
    }]}


def ids(answer: dict, field: str = "itemList") -> list[str]:
    return [i["itemId"] for i in answer[field]]


# --- the deployment -------------------------------------------------------------------------------

class Stack:
    """Names and ARNs of one run's resources, and what the steps learn along the way."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.prefix = f"tailor-e2e-{run_id}"
        self.bucket = self.prefix
        self.meta_table = f"{self.prefix}-meta"
        self.events_table = f"{self.prefix}-events"
        self.key_arn = ""
        self.key_id = ""
        self.functions: dict[str, str] = {}  # short name -> function name
        self.function_arns: dict[str, str] = {}
        self.api_id = ""
        self.state_machine_arn = ""
        self.state: dict = {}

    @property
    def api_url(self) -> str:
        # MiniStack's path form of an HTTP API's invoke URL ($default stage): see MINISTACK.md.
        return f"{ENDPOINT}/_aws/execute-api/{self.api_id}"

    def env(self) -> dict[str, str]:
        return {
            "TAILOR_BUCKET": self.bucket,
            "TAILOR_META_TABLE": self.meta_table,
            "TAILOR_EVENTS_TABLE": self.events_table,
            "TAILOR_KMS_KEY_ID": self.key_arn,
            "TAILOR_ACCOUNT_ID": ACCOUNT,
            # A sharded training's data in ranges of ~200 KB: the scan and cut Maps get several
            # tasks on this small data.
            "TAILOR_SHARD_RANGE_BYTES": "200000",
        }

    def function_env(self) -> dict[str, str]:
        # MiniStack does not point a function's SDK at itself (it sets region and credentials,
        # not AWS_ENDPOINT_URL): the function carries the endpoint, as in MINISTACK.md.
        # The control function hands jobs to the import and train functions by name.
        return {**self.env(), "RUST_LOG": "info", "AWS_ENDPOINT_URL": ENDPOINT,
                "TAILOR_IMPORT_FUNCTION": f"{self.prefix}-import",
                "TAILOR_TRAIN_FUNCTION": f"{self.prefix}-train",
                # Batch jobs: the state machine (its ARN is known before it exists), small
                # shards so a few lines fan out, and one shard that fails once to be retried.
                "TAILOR_BATCH_FUNCTION": f"{self.prefix}-batch",
                "TAILOR_BATCH_STATE_MACHINE":
                    f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{self.prefix}-batch",
                # CreateSolutionVersion trains on the training state machine, as on AWS.
                "TAILOR_TRAINING_STATE_MACHINE":
                    f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{self.prefix}-training",
                "TAILOR_BATCH_SHARD_LINES": "10",
                "TAILOR_BATCH_FAIL_ONCE": "1"}


def missing_binaries() -> list[str]:
    paths = [LAMBDA_DIR / b for b in FUNCTIONS.values()] + [TAILOR_BIN]
    return [str(p) for p in paths if not os.access(p, os.X_OK)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    missing = missing_binaries()
    if missing:
        pytest.skip("build the Lambda binaries and the CLI first (cargo build --workspace); missing: "
                    + ", ".join(missing))
    if not ASL_PATH.is_file():
        pytest.fail(f"the training state machine definition {ASL_PATH} does not exist")
    if not RATINGS.is_file():
        pytest.fail(f"MovieLens ratings not found at {RATINGS}")
    try:
        client("sts").get_caller_identity()
    except Exception as e:  # noqa: BLE001 - any failure means no emulator
        pytest.fail(f"no AWS emulator answers at {ENDPOINT} (bash tests/emulator.sh start): {e}")

    s = Stack(uuid.uuid4().hex[:8])
    cleanup: list = []
    try:
        deploy(s, tmp_path_factory.mktemp("packages"), cleanup)
        yield s
    finally:
        save_logs(s)
        errors = []
        for what, undo in reversed(cleanup):
            try:
                undo()
            except Exception as e:  # noqa: BLE001 - keep cleaning up
                errors.append(f"{what}: {e}")
        if errors:
            print("cleanup problems:\n  " + "\n  ".join(errors))


def deploy(s: Stack, workdir: Path, cleanup: list) -> None:
    kms, s3, ddb = client("kms"), client("s3"), client("dynamodb")
    lam, sfn, apigw = lambda_client(), client("stepfunctions"), client("apigatewayv2")
    logs = client("logs")

    # KMS key
    key = kms.create_key(Description=f"tailor e2e {s.run_id}", KeySpec="SYMMETRIC_DEFAULT",
                         KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    s.key_arn, s.key_id = key["Arn"], key["KeyId"]
    cleanup.append(("KMS key", lambda: kms.schedule_key_deletion(KeyId=s.key_id, PendingWindowInDays=7)))
    cleanup.append(("enable KMS key", lambda: kms.enable_key(KeyId=s.key_id)))  # runs first

    # Bucket
    s3.create_bucket(Bucket=s.bucket)

    def empty_and_delete_bucket():
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=s.bucket):
            for o in page.get("Contents", []):
                s3.delete_object(Bucket=s.bucket, Key=o["Key"])
        s3.delete_bucket(Bucket=s.bucket)

    cleanup.append(("bucket", empty_and_delete_bucket))

    # Tables
    ddb.create_table(
        TableName=s.meta_table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"}
                              for n in ("pk", "tbl", "key", "parent")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        # As infra/template.yaml: one record type in key order, one parent's children.
        GlobalSecondaryIndexes=[{
            "IndexName": index,
            "KeySchema": [{"AttributeName": hash_key, "KeyType": "HASH"},
                          {"AttributeName": "key", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        } for index, hash_key in (("by-table", "tbl"), ("by-parent", "parent"))],
    )
    cleanup.append(("meta table", lambda: ddb.delete_table(TableName=s.meta_table)))
    ddb.create_table(
        TableName=s.events_table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    cleanup.append(("events table", lambda: ddb.delete_table(TableName=s.events_table)))
    for t in (s.meta_table, s.events_table):
        ddb.get_waiter("table_exists").wait(TableName=t, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ddb.update_time_to_live(TableName=s.events_table,
                            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})

    # Functions
    role = f"arn:aws:iam::{ACCOUNT}:role/{s.prefix}-lambda"

    def create_function(short: str) -> str:
        return lam.create_function(
            FunctionName=f"{s.prefix}-{short}",
            Runtime="provided.al2023",
            Handler="bootstrap",
            Role=role,
            Code={"ZipFile": bootstrap_zip(LAMBDA_DIR / FUNCTIONS[short], workdir)},
            Timeout=TIMEOUTS[short],
            MemorySize=1024,
            Environment={"Variables": s.function_env()},
        )["FunctionArn"]

    def delete_log_group(name: str):
        try:
            logs.delete_log_group(logGroupName=f"/aws/lambda/{name}")
        except logs.exceptions.ResourceNotFoundException:
            pass  # never invoked

    with ThreadPoolExecutor(max_workers=len(FUNCTIONS)) as pool:
        created = {short: pool.submit(create_function, short) for short in FUNCTIONS}
        for short, future in created.items():
            name = f"{s.prefix}-{short}"
            cleanup.append((f"function {name}", lambda name=name: lam.delete_function(FunctionName=name)))
            cleanup.append((f"log group of {name}", lambda name=name: delete_log_group(name)))
            s.functions[short] = name
        for short, future in created.items():
            s.function_arns[short] = future.result()
    for name in s.functions.values():
        wait_until(f"function {name} to be Active",
                   lambda name=name: lam.get_function_configuration(FunctionName=name)["State"] == "Active",
                   timeout=60, interval=0.25)

    # S3 → import function
    lam.add_permission(FunctionName=s.functions["import"], StatementId="s3-imports",
                       Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
                       SourceArn=f"arn:aws:s3:::{s.bucket}", SourceAccount=ACCOUNT)
    s3.put_bucket_notification_configuration(Bucket=s.bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [{
            "Id": "tailor-imports",
            "LambdaFunctionArn": s.function_arns["import"],
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "imports/"},
                                               {"Name": "suffix", "Value": ".csv"}]}},
        }],
    })

    # HTTP API → recommend / rank / events
    s.api_id = apigw.create_api(Name=s.prefix, ProtocolType="HTTP")["ApiId"]
    cleanup.append(("HTTP API", lambda: apigw.delete_api(ApiId=s.api_id)))
    integrations = {}
    for short in sorted(set(ROUTES.values())):
        integrations[short] = apigw.create_integration(
            ApiId=s.api_id, IntegrationType="AWS_PROXY", IntegrationUri=s.function_arns[short],
            PayloadFormatVersion="2.0")["IntegrationId"]
        lam.add_permission(FunctionName=s.functions[short], StatementId="http-api",
                           Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com",
                           SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{s.api_id}/*")
    for route, short in ROUTES.items():
        apigw.create_route(ApiId=s.api_id, RouteKey=route, Target=f"integrations/{integrations[short]}")
    apigw.create_stage(ApiId=s.api_id, StageName="$default", AutoDeploy=True)

    # Training state machine
    definition = ASL_PATH.read_text()
    assert "${TrainFunctionArn}" in definition, f"{ASL_PATH} has no ${{TrainFunctionArn}} to substitute"
    s.state_machine_arn = sfn.create_state_machine(
        name=f"{s.prefix}-training",
        definition=definition.replace("${TrainFunctionArn}", s.function_arns["train"]),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/{s.prefix}-states",
    )["stateMachineArn"]
    cleanup.append(("state machine", lambda: sfn.delete_state_machine(stateMachineArn=s.state_machine_arn)))

    # Batch state machine
    batch = BATCH_ASL_PATH.read_text()
    s.batch_state_machine_arn = sfn.create_state_machine(
        name=f"{s.prefix}-batch",
        definition=batch.replace("${BatchFunctionArn}", s.function_arns["batch"])
                        .replace("${Bucket}", s.bucket),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/{s.prefix}-states",
    )["stateMachineArn"]
    cleanup.append(("batch state machine",
                    lambda: sfn.delete_state_machine(stateMachineArn=s.batch_state_machine_arn)))


def save_logs(s: Stack) -> None:
    if not s.functions:
        return
    logs = client("logs")
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    for short, name in s.functions.items():
        try:
            (LOG_DIR / f"{short}.log").write_text(function_logs(logs, name) + "\n")
        except Exception as e:  # noqa: BLE001 - logs are a diagnostic only
            print(f"could not save the logs of {name}: {e}")


def logs_of(s: Stack, short: str, lines: int = 60) -> str:
    return f"--- {s.functions[short]} logs ---\n" + tail(function_logs(client("logs"), s.functions[short]), lines)


def tailor_cli(s: Stack, *args: str, cwd: Path) -> dict:
    """`tailor --aws <args>`; its stdout parsed as JSON."""
    env = {**os.environ, **s.env(), "AWS_ENDPOINT_URL": ENDPOINT, "AWS_REGION": REGION,
           "AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_PROFILE", None)
    p = subprocess.run([str(TAILOR_BIN), "--aws", *args], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=1800)
    assert p.returncode == 0, f"tailor --aws {' '.join(args)} failed ({p.returncode}):\n{p.stderr}\n{p.stdout}"
    try:
        return json.loads(p.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"tailor --aws {' '.join(args)} did not print JSON:\n{p.stdout}\n{p.stderr}")


def runtime_client(s: Stack):
    # The real Personalize runtime client, pointed at the HTTP API. No retries: a failure shows.
    return boto3.client("personalize-runtime", endpoint_url=s.api_url, region_name=REGION,
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"total_max_attempts": 1}, read_timeout=120))


def events_client(s: Stack):
    return boto3.client("personalize-events", endpoint_url=s.api_url, region_name=REGION,
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"total_max_attempts": 1}, read_timeout=120))


def finished_execution(sfn, execution_arn: str) -> dict | None:
    d = sfn.describe_execution(executionArn=execution_arn)
    return d if d["status"] != "RUNNING" else None


def import_jobs_for(s: Stack, key: str) -> list[dict]:
    location = f"s3://{s.bucket}/{key}"
    return [j for j in meta_records(client("dynamodb"), s.meta_table, IMPORT_JOBS_TABLE)
            if j.get("dataSource", {}).get("dataLocation") == location]


# --- the steps ------------------------------------------------------------------------------------

pytestmark = pytest.mark.step


def test_01_control_plane_through_the_cli(stack, tmp_path):
    schema = ROOT / "schemas" / "movielens-interactions.json"
    group = tailor_cli(stack, "create-dataset-group", "--name", GROUP, cwd=tmp_path)
    assert group["datasetGroupArn"] == f"{PERSONALIZE}:dataset-group/{GROUP}"
    tailor_cli(stack, "create-schema", "--name", f"{GROUP}-interactions", "--file", str(schema), cwd=tmp_path)
    dataset = tailor_cli(stack, "create-dataset", "--name", f"{GROUP}-interactions", "--dataset-group", GROUP,
                         "--schema", f"{GROUP}-interactions", "--type", "interactions", cwd=tmp_path)
    assert dataset["datasetArn"].endswith("/INTERACTIONS"), dataset
    solution = tailor_cli(stack, "create-solution", "--name", f"{GROUP}-up", "--dataset-group", GROUP,
                          "--recipe", "aws-user-personalization", cwd=tmp_path)
    tracker = tailor_cli(stack, "create-event-tracker", "--name", f"{GROUP}-tracker", "--dataset-group", GROUP,
                         cwd=tmp_path)
    stack.state["solution_arn"] = solution["solutionArn"]
    stack.state["tracking_id"] = tracker["trackingId"]
    # The records are in the deployment's meta table, not in a local data dir.
    groups = meta_records(client("dynamodb"), stack.meta_table, "dataset-groups")
    assert [g["name"] for g in groups] == [GROUP]
    assert not (tmp_path / ".tailor").exists(), "the CLI wrote local data in --aws mode"


def test_02_an_upload_imports_through_the_s3_notification(stack, tmp_path):
    s3 = client("s3")
    body = interactions_csv(ROWS)
    stack.state["upload_size"] = len(body)
    put = s3.put_object(Bucket=stack.bucket, Key=UPLOAD_KEY, Body=body, ServerSideEncryption="aws:kms",
                        SSEKMSKeyId=stack.key_arn, ContentType="text/csv")
    stack.state["upload_etag"] = put["ETag"].strip('"')
    started = time.monotonic()

    def finished():
        jobs = import_jobs_for(stack, UPLOAD_KEY)
        return jobs if jobs and all(j["status"] in ("ACTIVE", "CREATE FAILED") for j in jobs) else None

    jobs = wait_until("the import job started by the S3 notification", finished, timeout=300,
                      detail=lambda: logs_of(stack, "import"))
    print(f"import through the S3 notification: {time.monotonic() - started:.1f} s")
    assert len(jobs) == 1, jobs
    job = jobs[0]
    assert job["status"] == "ACTIVE", f"{job}\n{logs_of(stack, 'import')}"
    assert job["importMode"] == "FULL"
    stack.state["import_job_arn"] = job["datasetImportJobArn"]
    # The CLI reads the imported (sealed) dataset back from the deployment.
    summary = tailor_cli(stack, "describe", "--dataset-group", GROUP, "--json", cwd=tmp_path)
    assert [(d["datasetType"], d["rows"]) for d in summary] == [("INTERACTIONS", ROWS)], summary


def test_03_a_redelivered_notification_imports_once(stack):
    lam = lambda_client()
    event = s3_event(stack.bucket, UPLOAD_KEY, stack.state["upload_size"], stack.state["upload_etag"])
    for attempt in (1, 2):
        r = lam.invoke(FunctionName=stack.functions["import"], Payload=json.dumps(event).encode(),
                       LogType="Tail")
        payload = json.loads(r["Payload"].read())
        log = base64.b64decode(r.get("LogResult", "")).decode(errors="replace")
        assert "FunctionError" not in r, f"delivery {attempt}: {payload}\n{log}"
        imports = payload["imports"]
        assert len(imports) == 1, payload
        assert imports[0]["datasetImportJobArn"] == stack.state["import_job_arn"], payload
        assert imports[0].get("duplicate") is True, payload
    jobs = import_jobs_for(stack, UPLOAD_KEY)
    assert len(jobs) == 1, jobs
    all_jobs = meta_records(client("dynamodb"), stack.meta_table, IMPORT_JOBS_TABLE)
    assert len(all_jobs) == 1, all_jobs


def test_03b_concurrent_deliveries_of_a_new_upload_import_once(stack):
    """S3 may deliver one notification several times at once: three simultaneous deliveries of a
    fresh upload (an incremental one, under a key the notification filter does not match — its
    suffix is .CSV — so only these deliveries exist) make one job, run once."""
    s3, lam = client("s3"), lambda_client()
    key = f"imports/{GROUP}/INTERACTIONS/incremental/extra.CSV"
    body = b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n" + b"".join(
        f"e2e-user-{i % 5},{1 + i},{1_700_000_000 + i},rating,4.0\n".encode() for i in range(50))
    put = s3.put_object(Bucket=stack.bucket, Key=key, Body=body, ServerSideEncryption="aws:kms",
                        SSEKMSKeyId=stack.key_arn)
    event = json.dumps(s3_event(stack.bucket, key, len(body), put["ETag"].strip('"'))).encode()

    def deliver(_):
        r = lam.invoke(FunctionName=stack.functions["import"], Payload=event, LogType="Tail")
        return r.get("FunctionError"), json.loads(r["Payload"].read()), \
            base64.b64decode(r.get("LogResult", "")).decode(errors="replace")

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(deliver, range(3)))
    for error, payload, log in results:
        assert error is None, f"{payload}\n{log}"
    imports = [payload["imports"][0] for _, payload, _ in results]
    assert len({i["datasetImportJobArn"] for i in imports}) == 1, imports
    jobs = import_jobs_for(stack, key)
    assert len(jobs) == 1, jobs
    assert jobs[0]["status"] == "ACTIVE" and jobs[0]["importMode"] == "INCREMENTAL", jobs[0]
    ran = [i for i in imports if not i.get("duplicate")]
    assert len(ran) == 1, imports  # the others found the job made, or running


def test_04_the_state_machine_trains_and_promotes(stack):
    sfn = client("stepfunctions")
    started = time.monotonic()
    execution = sfn.start_execution(
        stateMachineArn=stack.state_machine_arn,
        name=f"full-{stack.run_id}",
        input=json.dumps({"solutionArn": stack.state["solution_arn"], "campaignArn": CAMPAIGN,
                          "trainingMode": "FULL"}),
    )["executionArn"]

    d = wait_until("the training execution", lambda: finished_execution(sfn, execution), timeout=900,
                   interval=1, detail=lambda: logs_of(stack, "train"))
    print(f"training state machine: {time.monotonic() - started:.1f} s")
    history = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    assert d["status"] == "SUCCEEDED", (
        f"{d['status']}: {d.get('error')} {d.get('cause')}\n"
        + "\n".join(f"{e['type']} {json.dumps({k: v for k, v in e.items() if k.endswith('Details')}, default=str)[:400]}"
                    for e in history)
        + "\n" + logs_of(stack, "train"))
    # The tasks ran the real train function (validate, train, evaluate, promote at least).
    tasks = [e["taskSucceededEventDetails"] for e in history if e["type"] == "TaskSucceeded"]
    assert len(tasks) >= 3 and all("lambda:invoke" in t["resource"] for t in tasks), tasks
    assert "solutionVersionArn" in tasks[0]["output"], tasks[0]
    invocations = function_logs(client("logs"), stack.functions["train"]).count("START RequestId")
    assert invocations >= len(tasks), (invocations, len(tasks))

    campaigns = {c["campaignArn"]: c for c in meta_records(client("dynamodb"), stack.meta_table, CAMPAIGNS_TABLE)}
    assert CAMPAIGN in campaigns, list(campaigns)
    campaign = campaigns[CAMPAIGN]
    assert campaign["status"] == "ACTIVE", campaign
    assert campaign["solutionVersionArn"].startswith(stack.state["solution_arn"] + "/"), campaign
    stack.state["solution_version_arn"] = campaign["solutionVersionArn"]


def test_04b_a_failed_training_fails_the_execution_with_the_functions_error(stack):
    """Validate fails (no such solution): the Catch reports it to the function (action "fail")
    and the execution ends FAILED with Personalize's exception name; the campaign is untouched."""
    sfn = client("stepfunctions")
    execution = sfn.start_execution(
        stateMachineArn=stack.state_machine_arn,
        name=f"missing-{stack.run_id}",
        input=json.dumps({"solutionArn": f"{PERSONALIZE}:solution/does-not-exist",
                          "campaignArn": CAMPAIGN, "trainingMode": "FULL"}),
    )["executionArn"]
    d = wait_until("the failing training execution", lambda: finished_execution(sfn, execution),
                   timeout=120)
    assert d["status"] == "FAILED", d
    assert d.get("error") == "ResourceNotFoundException", d
    assert "does-not-exist" in d.get("cause", ""), d
    history = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    outputs = [e["taskSucceededEventDetails"]["output"] for e in history if e["type"] == "TaskSucceeded"]
    assert any('"status"' in o for o in outputs), outputs  # the fail action ran
    campaign = {c["campaignArn"]: c for c in meta_records(client("dynamodb"), stack.meta_table,
                                                          CAMPAIGNS_TABLE)}[CAMPAIGN]
    assert campaign["solutionVersionArn"] == stack.state["solution_version_arn"], campaign


def test_05_recommendations_through_the_http_api(stack):
    rt = runtime_client(stack)
    started = time.monotonic()
    answer = rt.get_recommendations(campaignArn=CAMPAIGN, userId=USER, numResults=10)
    print(f"first GetRecommendations (cold: loads the model): {time.monotonic() - started:.2f} s")
    items = ids(answer)
    assert len(items) == 10 and len(set(items)) == 10, answer
    assert answer["recommendationId"]
    assert all(0.0 <= i["score"] <= 1.0 for i in answer["itemList"]), answer
    stack.state["before"] = items

    started = time.monotonic()
    again = rt.get_recommendations(campaignArn=CAMPAIGN, userId=USER, numResults=10)
    print(f"second GetRecommendations (warm): {time.monotonic() - started:.2f} s")
    assert ids(again) == items

    ranked = rt.get_personalized_ranking(campaignArn=CAMPAIGN, userId=USER,
                                         inputList=list(reversed(items)))
    assert sorted(ids(ranked, "personalizedRanking")) == sorted(items), ranked

    # Personalize's errors come through API Gateway as the SDK's modelled exceptions.
    with pytest.raises(rt.exceptions.ResourceNotFoundException):
        rt.get_recommendations(campaignArn=f"{PERSONALIZE}:campaign/does-not-exist", userId=USER)
    with pytest.raises(rt.exceptions.InvalidInputException):
        rt.get_recommendations(campaignArn=CAMPAIGN, userId=USER, numResults=501)


def test_06_put_events_changes_the_next_answer(stack):
    rt, ev = runtime_client(stack), events_client(stack)
    before = stack.state["before"]
    top = before[0]
    ev.put_events(
        trackingId=stack.state["tracking_id"],
        userId=USER,
        sessionId=f"session-{stack.run_id}",
        eventList=[{"eventId": f"e2e-{stack.run_id}", "eventType": "rating", "itemId": top,
                    "eventValue": 5.0, "sentAt": time.time()}],
    )
    after = ids(rt.get_recommendations(campaignArn=CAMPAIGN, userId=USER, numResults=10))
    # The event shapes the very next answer. (The rated item may stay in it: as in
    # Personalize, items a user interacted with remain candidates unless a filter drops them.)
    assert after != before, (top, after)
    # The event is durable in the events table (its eventId's dedup marker, its log entry).
    items = client("dynamodb").scan(TableName=stack.events_table)["Items"]
    assert any(f"e2e-{stack.run_id}" in i["pk"]["S"] for i in items), "the event is not in the events table"
    # A tracking id no event tracker has is refused by the events function.
    with pytest.raises(ev.exceptions.InvalidInputException):
        ev.put_events(trackingId=str(uuid.uuid4()), userId=USER, sessionId="s",
                      eventList=[{"eventType": "rating", "itemId": top, "sentAt": time.time()}])


def test_07_everything_at_rest_is_encrypted_under_the_deployment_key(stack):
    s3 = client("s3")
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.bucket)
            for o in page.get("Contents", [])]
    assert UPLOAD_KEY in keys
    assert any(k.startswith("models/") for k in keys), keys
    assert any(k.startswith("datasets/") for k in keys), keys
    print(f"{len(keys)} objects: " + ", ".join(sorted({k.split('/')[0] + '/' for k in keys})))
    for k in keys:
        h = s3.head_object(Bucket=stack.bucket, Key=k)
        assert h.get("ServerSideEncryption") == "aws:kms", (k, h.get("ServerSideEncryption"))
        assert h.get("SSEKMSKeyId") in (stack.key_arn, stack.key_id), (k, h.get("SSEKMSKeyId"))
    # Beyond SSE-KMS (which the emulator only records), tailor seals what it writes: a model or a
    # dataset fetched raw from S3 is an envelope (TLSE), not a readable model (TLRM) or Avro file.
    for k in keys:
        if k.startswith(("models/", "datasets/")):
            raw = s3.get_object(Bucket=stack.bucket, Key=k)["Body"].read()
            assert raw[:4] == b"TLSE", (k, raw[:16])
            assert b"TLRM" not in raw[:64] and b"Obj\x01" not in raw[:64], k


def test_08_a_disabled_key_stops_models_from_loading(stack):
    """Opening a sealed model needs KMS Decrypt: with the key disabled, the recommend function
    cannot load a campaign it has not loaded yet; once re-enabled, it can."""
    kms, lam, rt = client("kms"), lambda_client(), runtime_client(stack)
    # A second campaign on the same version, which the warm recommend function has not loaded.
    r = lam.invoke(FunctionName=stack.functions["train"], Payload=json.dumps({
        "action": "promote", "solutionVersionArn": stack.state["solution_version_arn"],
        "campaignArn": CAMPAIGN_B}).encode())
    payload = json.loads(r["Payload"].read())
    assert "FunctionError" not in r, payload
    assert payload["campaignArn"] == CAMPAIGN_B, payload

    kms.disable_key(KeyId=stack.key_id)
    try:
        with pytest.raises(ClientError) as refused:
            rt.get_recommendations(campaignArn=CAMPAIGN_B, userId=USER, numResults=5)
        print(f"campaign not yet loaded, key disabled: {refused.value}")
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] >= 500, refused.value.response
        # (The campaign loaded before keeps serving from memory: nothing to decrypt.)
        try:
            rt.get_recommendations(campaignArn=CAMPAIGN, userId=USER, numResults=5)
            print("loaded campaign, key disabled: still answers from memory")
        except ClientError as e:
            print(f"loaded campaign, key disabled: {e}")
    finally:
        kms.enable_key(KeyId=stack.key_id)
    assert "disabled" in function_logs(client("logs"), stack.functions["recommend"]).lower(), \
        "the recommend function's logs do not mention the disabled key"
    answer = rt.get_recommendations(campaignArn=CAMPAIGN_B, userId=USER, numResults=5)
    assert len(answer["itemList"]) == 5


def test_09_cold_start_of_the_recommend_function(stack, tmp_path):
    """A measurement, not a pass/fail timing: run with TAILOR_COLDSTART_RUNS=N (and usually
    TAILOR_E2E_ROWS=100836 for all of MovieLens). With TAILOR_COLDSTART_EVENTS=M (e.g. 100000)
    it measures three states: just after a compaction, after M PutEvents since it (put through
    the events function, 10 per call), and after compacting those. The figures go to
    target/e2e/coldstart.json."""
    runs = int(os.environ.get("TAILOR_COLDSTART_RUNS", "0"))
    if runs <= 0:
        pytest.skip("set TAILOR_COLDSTART_RUNS=N to measure the recommend function's cold start")
    import coldstart

    env = {**os.environ, **stack.function_env(), "AWS_REGION": REGION,
           "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    event = coldstart.http_event("/recommendations",
                                 {"campaignArn": CAMPAIGN, "userId": USER, "numResults": 25})
    warm = int(os.environ.get("TAILOR_WARM_REQUESTS", "200"))
    recommend = str(LAMBDA_DIR / FUNCTIONS["recommend"])
    n_events = int(os.environ.get("TAILOR_COLDSTART_EVENTS", "0"))
    if n_events <= 0:
        figures = coldstart.measure(recommend, env, event, runs, warm)
    else:
        figures = {}

        def stage(name: str, value):
            # Saved as each stage ends: a long run that fails late keeps what it measured.
            figures[name] = value
            LOG_DIR.mkdir(parents=True, exist_ok=True)
            (LOG_DIR / "coldstart.json").write_text(json.dumps(figures, indent=2))

        tailor_cli(stack, "compact", "--dataset-group", GROUP, cwd=tmp_path)
        stage("after_compaction", coldstart.measure(recommend, env, event, runs, warm))
        put = coldstart.invoke_all(str(LAMBDA_DIR / FUNCTIONS["events"]), env,
                                   put_events_calls(stack, n_events))
        stage("put_events", {**put, "events": n_events})
        stage(f"after_{n_events}_events",
              coldstart.measure(recommend, env, event, runs, warm, cold_timeout=1800))
        started = time.monotonic()
        compacted = tailor_cli(stack, "compact", "--dataset-group", GROUP, cwd=tmp_path)
        stage("compaction", {**compacted, "seconds": time.monotonic() - started})
        stage("after_compacting_them", coldstart.measure(recommend, env, event, runs, warm))
    figures["binary"] = recommend
    figures["interactions"] = ROWS
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    (LOG_DIR / "coldstart.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))
    cold = [v["cold_ms"]["median"] for v in figures.values() if isinstance(v, dict) and "cold_ms" in v]
    assert cold and all(c > 0 for c in cold)


def run_training(stack, sfn, solution_arn: str, campaign: str, name: str) -> tuple[str, dict, list[dict]]:
    execution = sfn.start_execution(
        stateMachineArn=stack.state_machine_arn, name=f"{name}-{stack.run_id}",
        input=json.dumps({"solutionArn": solution_arn, "campaignArn": campaign, "trainingMode": "FULL"}),
    )["executionArn"]
    d = wait_until(f"the {name} training execution", lambda: finished_execution(sfn, execution), timeout=900,
                   interval=1, detail=lambda: logs_of(stack, "train"))
    history = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    assert d["status"] == "SUCCEEDED", (
        f"{name}: {d['status']}: {d.get('error')} {d.get('cause')}\n"
        + "\n".join(f"{e['type']} {json.dumps({k: v for k, v in e.items() if k.endswith('Details')}, default=str)[:300]}"
                    for e in history)
        + "\n" + logs_of(stack, "train"))
    return execution, d, history


def test_10_sharded_training_runs_a_distributed_map_and_trains_the_same_model(stack, tmp_path):
    """The sharded branch (Validate says sharded → ShardPrepare → Distributed Maps that scan the
    data by byte range, cut it to user shards, and build the user and item rows → ShardPlan in
    between → per iteration a Distributed Map of solveUsers over user shards, then one of
    solveItems over item shards → ShardFinish), forced
    with als_shards=2 on the small data, against the single-process Train of the same data and
    hyperparameters (als_shards=1): both versions go ACTIVE and their campaigns answer alike. The
    state machine is the deployed definition unchanged: MiniStack 1.5.33 runs Distributed Map
    (each item a child execution of a Map Run)."""
    sfn, rt = client("stepfunctions"), runtime_client(stack)
    hp = ["--hp", "factors=8", "--hp", "factor_weight=1.0", "--hp", "als_iterations=3"]
    arns = {}
    for name, shards in (("sharded", "2"), ("single", "1")):
        arns[name] = tailor_cli(stack, "create-solution", "--name", f"{GROUP}-{name}", "--dataset-group", GROUP,
                                "--recipe", "aws-user-personalization", *hp, "--hp", f"als_shards={shards}",
                                cwd=tmp_path)["solutionArn"]
    campaigns = {name: f"{PERSONALIZE}:campaign/movielens-e2e-{name}" for name in arns}

    started = time.monotonic()
    execution, sharded, history = run_training(stack, sfn, arns["sharded"], campaigns["sharded"], "sharded")
    print(f"sharded training state machine: {time.monotonic() - started:.1f} s")
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")]
    assert "ShardPrepare" in entered and "ShardFinish" in entered and "Train" not in entered, entered
    for state in ("ScanRanges", "ShardPlan", "CutRanges", "BuildUserRows", "BuildItemRows"):
        assert entered.count(state) == 1, (state, entered)
    # Four iterations (the evaluation part's 3, then 1 on all the data: recipes::chain), each a
    # user Map then an item Map.
    assert entered.count("SolveUsers") == 4 and entered.count("SolveItems") == 4, entered
    prepared = next(json.loads(e["stateExitedEventDetails"]["output"]) for e in history
                    if e["type"].endswith("StateExited") and e["stateExitedEventDetails"]["name"] == "ShardPrepare")
    ranges = len(prepared["ranges"]["ranges"])
    assert ranges >= 3, prepared["ranges"]
    runs = sfn.list_map_runs(executionArn=execution)["mapRuns"]
    assert len(runs) == 4 + 8, runs
    counts = sorted(sfn.describe_map_run(mapRunArn=r["mapRunArn"])["itemCounts"]["succeeded"] for r in runs)
    for r in runs:
        described = sfn.describe_map_run(mapRunArn=r["mapRunArn"])
        assert described["status"] == "SUCCEEDED", described
    # The scan and cut Maps ran a task per range; the rows and solve Maps a task per shard.
    assert counts == sorted([ranges, ranges] + [2] * 10), counts
    # Every shard solve was its own invocation of the train function, and the shards are gone.
    logs = function_logs(client("logs"), stack.functions["train"])
    assert logs.count("shard solved") >= 4 * (2 + 2), tail(logs)
    s3 = client("s3")
    left = s3.list_objects_v2(Bucket=stack.bucket, Prefix="training/").get("KeyCount", 0)
    assert left == 0, "shard objects left behind"

    _, single, _ = run_training(stack, sfn, arns["single"], campaigns["single"], "single")
    versions = {}
    for name, campaign in campaigns.items():
        c = {c["campaignArn"]: c for c in meta_records(client("dynamodb"), stack.meta_table, CAMPAIGNS_TABLE)}[campaign]
        assert c["status"] == "ACTIVE" and c["solutionVersionArn"].startswith(arns[name] + "/"), c
        versions[name] = c["solutionVersionArn"]
    # Same data, same hyperparameters: the same model within float tolerance, so the same answers
    # (the factors weigh as much as the next-items scores here, so wrong factors change them).
    for user in ["1", "7", "42", "100", "131"]:
        a = rt.get_recommendations(campaignArn=campaigns["sharded"], userId=user, numResults=10)["itemList"]
        b = rt.get_recommendations(campaignArn=campaigns["single"], userId=user, numResults=10)["itemList"]
        assert [i["itemId"] for i in a] == [i["itemId"] for i in b], (user, a, b)
        assert all(abs(x["score"] - y["score"]) <= 1e-3 for x, y in zip(a, b)), (user, a, b)
    # Both measured on the same split with the same recipe: the same offline metrics.
    metrics = [json.loads(d["output"])["train"]["metrics"] for d in (sharded, single)]
    assert metrics[0] and metrics[0] == metrics[1], metrics


def put_events_calls(s: Stack, n: int):
    """`n` PutEvents as HTTP API events of 10 each: MovieLens users and 1,000 users no import
    has, rating MovieLens items, all newer than the imported ratings."""
    import coldstart

    items = sorted({line.split(b",")[1].decode() for line in interactions_csv(ROWS).splitlines()[1:]})
    base = time.time()
    for call in range(0, n, 10):
        user = str(1 + call // 10 % 610) if call // 10 % 2 == 0 else f"events-only-{call // 10 % 1000}"
        batch = [{"eventId": f"cold-{s.run_id}-{i}", "eventType": "rating", "eventValue": 4.0,
                  "itemId": items[(i * 7919) % len(items)], "sentAt": base + i / 1000}
                 for i in range(call, min(call + 10, n))]
        yield coldstart.http_event("/events", {"trackingId": s.state["tracking_id"], "userId": user,
                                               "sessionId": f"cold-{user}", "eventList": batch})


def control_client(s: Stack):
    # boto3's own `personalize` client, pointed at the HTTP API's control route (`POST /`) and
    # signing for `execute-api` as the README's "Calling the API" shows (the API is IAM-
    # authorised; MiniStack does not check signatures, so the scope is checked below). The
    # trailing slash matters on MiniStack only: without it the request path is the bare API
    # prefix, which MiniStack does not read as an execute-api call (it answers "Unsupported
    # service: personalize"); on AWS the API's own host serves `/`.
    c = boto3.client("personalize", endpoint_url=s.api_url + "/", region_name=REGION,
                     aws_access_key_id="test", aws_secret_access_key="test",
                     config=Config(retries={"total_max_attempts": 1}, read_timeout=120))
    c.meta.events.register("choose-signer", lambda **kw: None)
    c._request_signer._signing_name = "execute-api"
    c.signed_scopes = []

    def remember_scope(request, **kw):
        auth = request.headers.get("Authorization", b"")
        c.signed_scopes.append(auth.decode() if isinstance(auth, bytes) else auth)

    c.meta.events.register("before-send", remember_scope)
    return c


def test_11_the_control_plane_through_the_http_api(stack):
    """Personalize's lifecycle through the control function: records in the deployment's
    table, an s3:// import run by the import function and a version trained by the train
    function, both handed over asynchronously and polled through Describe."""
    pz, s3 = control_client(stack), client("s3")
    run = uuid.uuid4().hex[:6]
    body = interactions_csv(5000)
    key = f"sources/ctl-{run}/interactions.csv"
    s3.put_object(Bucket=stack.bucket, Key=key, Body=body, ServerSideEncryption="aws:kms",
                  SSEKMSKeyId=stack.key_arn)

    group = pz.create_dataset_group(name=f"ctl-{run}",
                                    tags=[{"tagKey": "e2e", "tagValue": run}])["datasetGroupArn"]
    assert pz.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]["status"] == "ACTIVE"
    assert pz.list_tags_for_resource(resourceArn=group)["tags"] == [{"tagKey": "e2e", "tagValue": run}]
    schema = pz.create_schema(name=f"ctl-{run}", schema=(
        ROOT / "schemas" / "movielens-interactions.json").read_text())["schemaArn"]
    dataset = pz.create_dataset(name=f"ctl-{run}", schemaArn=schema, datasetGroupArn=group,
                                datasetType="Interactions")["datasetArn"]
    assert [d["datasetArn"] for d in pz.list_datasets(datasetGroupArn=group)["datasets"]] == [dataset]
    # The records are the deployment's, in its table.
    names = [g["name"] for g in meta_records(client("dynamodb"), stack.meta_table, "dataset-groups")]
    assert f"ctl-{run}" in names

    job = pz.create_dataset_import_job(
        jobName=f"ctl-{run}", datasetArn=dataset,
        dataSource={"dataLocation": f"s3://{stack.bucket}/{key}"},
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/personalize")["datasetImportJobArn"]

    def status(describe, field):
        return describe()[field]["status"]

    wait_until("the import job to finish",
               lambda: status(lambda: pz.describe_dataset_import_job(datasetImportJobArn=job),
                              "datasetImportJob") not in ("CREATE PENDING", "CREATE IN_PROGRESS"),
               timeout=300, interval=1, detail=lambda: logs_of(stack, "import"))
    done = pz.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]
    assert done["status"] == "ACTIVE", (done, logs_of(stack, "import"))

    solution = pz.create_solution(name=f"ctl-{run}", datasetGroupArn=group,
                                  recipeArn="arn:aws:personalize:::recipe/aws-user-personalization")["solutionArn"]
    version = pz.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    wait_until("the solution version to finish",
               lambda: status(lambda: pz.describe_solution_version(solutionVersionArn=version),
                              "solutionVersion") not in ("CREATE PENDING", "CREATE IN_PROGRESS"),
               timeout=600, interval=1, detail=lambda: logs_of(stack, "train"))
    trained = pz.describe_solution_version(solutionVersionArn=version)["solutionVersion"]
    assert trained["status"] == "ACTIVE", (trained, logs_of(stack, "train"))
    metrics = pz.get_solution_metrics(solutionVersionArn=version)["metrics"]
    assert 0 < metrics["normalized_discounted_cumulative_gain_at_10"] <= 1
    assert [v["solutionVersionArn"] for v in
            pz.list_solution_versions(solutionArn=solution)["solutionVersions"]] == [version]
    # It trained as an execution of the training state machine named after the version (whose
    # catch fails a version whose task times out or crashes), which ended without a campaign.
    execution = client("stepfunctions").describe_execution(
        executionArn=f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{stack.prefix}-training:"
                     + version.rsplit("/", 1)[1])
    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["input"]) == {"solutionVersionArn": version}
    # Every call was signed for API Gateway, in the stack's region.
    assert pz.signed_scopes and all(f"/{REGION}/execute-api/aws4_request" in a
                                    for a in pz.signed_scopes), pz.signed_scopes[:2]

    with pytest.raises(ClientError) as e:
        pz.describe_campaign(campaignArn=f"{PERSONALIZE}:campaign/none-{run}")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"

    pz.delete_solution(solutionArn=solution)
    pz.delete_dataset(datasetArn=dataset)
    pz.delete_dataset_group(datasetGroupArn=group)
    pz.delete_schema(schemaArn=schema)
    with pytest.raises(ClientError) as e:
        pz.describe_dataset_group(datasetGroupArn=group)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_12_a_batch_inference_job_fans_out_on_a_distributed_map(stack):
    """CreateBatchInferenceJob through the control function starts the batch state machine:
    Plan cuts 26 lines into 3 shards, the Distributed Map runs them on the batch function (the
    second fails once and is retried), Join writes users.json.out SSE-KMS in input order, and
    each answer is the campaign's GetRecommendations answer for that user."""
    pz, s3, sfn, rt = control_client(stack), client("s3"), client("stepfunctions"), runtime_client(stack)
    run = uuid.uuid4().hex[:6]
    version = pz.describe_campaign(campaignArn=CAMPAIGN)["campaign"]["solutionVersionArn"]
    users = [str(u) for u in range(1, 26)]
    body = "\n".join(json.dumps({"userId": u}) for u in users) + "\n{not json\n"
    in_key = f"sources/batch-{run}/users.json"
    s3.put_object(Bucket=stack.bucket, Key=in_key, Body=body.encode(),
                  ServerSideEncryption="aws:kms", SSEKMSKeyId=stack.key_arn)
    job = pz.create_batch_inference_job(
        jobName=f"batch-{run}", solutionVersionArn=version, numResults=5,
        jobInput={"s3DataSource": {"path": f"s3://{stack.bucket}/{in_key}"}},
        jobOutput={"s3DataDestination": {"path": f"s3://{stack.bucket}/exports/batch-{run}/"}},
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/personalize")["batchInferenceJobArn"]

    def describe():
        return pz.describe_batch_inference_job(batchInferenceJobArn=job)["batchInferenceJob"]

    wait_until("the batch job to finish",
               lambda: describe()["status"] not in ("PENDING", "IN PROGRESS"),
               timeout=600, interval=1, detail=lambda: logs_of(stack, "batch"))
    done = describe()
    assert done["status"] == "ACTIVE", (done, logs_of(stack, "batch"))
    # The counts are tailor's, not a field of botocore's model (boto3 drops them): read the
    # record in the deployment's table.
    record = next(r for r in meta_records(client("dynamodb"), stack.meta_table, "batch-inference-jobs")
                  if r["batchInferenceJobArn"] == job)
    assert record["recordCounts"] == {"inputRecords": 26, "failedRecords": 1}, record

    out_key = f"exports/batch-{run}/users.json.out"
    assert s3.head_object(Bucket=stack.bucket, Key=out_key)["ServerSideEncryption"] == "aws:kms"
    lines = [json.loads(x) for x in
             s3.get_object(Bucket=stack.bucket, Key=out_key)["Body"].read().decode().splitlines()]
    assert [x["input"].get("userId") for x in lines[:25]] == users, "input order"
    assert lines[25]["error"].startswith("line 26:"), lines[25]
    for x in lines[:25:6]:
        online = rt.get_recommendations(campaignArn=CAMPAIGN, userId=x["input"]["userId"], numResults=5)
        assert x["output"]["recommendedItems"] == ids(online), (x, online)

    # The fan-out: one execution, a Map Run of 3 shards that all succeeded, one retried.
    executions = sfn.list_executions(stateMachineArn=stack.batch_state_machine_arn)["executions"]
    assert len(executions) == 1 and executions[0]["status"] == "SUCCEEDED", executions
    runs = sfn.list_map_runs(executionArn=executions[0]["executionArn"])["mapRuns"]
    counts = sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"])["itemCounts"]
    assert (counts["total"], counts["succeeded"]) == (3, 3), counts
    marker = f"batch/batch-inference-job/batch-{run}/manifest.json.fault-1"
    s3.head_object(Bucket=stack.bucket, Key=marker)  # shard 1 failed once, then answered
    listed = pz.list_batch_inference_jobs(solutionVersionArn=version)["batchInferenceJobs"]
    assert job in [j["batchInferenceJobArn"] for j in listed]


def test_13_a_data_deletion_job_runs_in_the_batch_function(stack):
    """CreateDataDeletionJob through the control function hands the job to the batch function:
    the user who put an event in test_06 leaves the dataset and the events table (the log entry
    redacted in place, the recent items gone), and the job completes with numDeleted 1."""
    pz, s3, ddb = control_client(stack), client("s3"), client("dynamodb")
    group = f"{PERSONALIZE}:dataset-group/{GROUP}"
    key = f"sources/forget-{stack.run_id}/users.csv"
    s3.put_object(Bucket=stack.bucket, Key=key, Body=f"USER_ID\n{USER}\n".encode(),
                  ServerSideEncryption="aws:kms", SSEKMSKeyId=stack.key_arn)
    job = pz.create_data_deletion_job(
        jobName=f"forget-{stack.run_id}", datasetGroupArn=group,
        dataSource={"dataLocation": f"s3://{stack.bucket}/{key}"},
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/personalize")["dataDeletionJobArn"]

    def describe():
        return pz.describe_data_deletion_job(dataDeletionJobArn=job)["dataDeletionJob"]

    wait_until("the deletion job to finish",
               lambda: describe()["status"] not in ("PENDING", "IN_PROGRESS"),
               timeout=600, interval=1, detail=lambda: logs_of(stack, "batch"))
    done = describe()
    assert (done["status"], done.get("numDeleted")) == ("COMPLETED", 1), (done, logs_of(stack, "batch"))
    assert [j["dataDeletionJobArn"] for j in
            pz.list_data_deletion_jobs(datasetGroupArn=group)["dataDeletionJobs"]] == [job]

    items = ddb.scan(TableName=stack.events_table)["Items"]
    assert not [i for i in items if i["pk"]["S"].endswith(f"#{USER}") and i["pk"]["S"].startswith("recent#")]
    logged = [json.loads(i["event"]["S"]) for i in items if i["pk"]["S"].startswith("log#")]
    assert logged and not [e for e in logged if e.get("userId") == USER], logged
    assert any(e["eventId"] == f"e2e-{stack.run_id}" and e["sessionId"] == "" for e in logged)
