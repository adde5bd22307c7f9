"""End-to-end compatibility fixtures: a real `tailor serve` driven by real boto3 clients.

One server per test session, on a fresh data dir populated by `tailor demo --no-serve`
plus the extra filters and campaigns the tests need.
"""

from __future__ import annotations

import csv
import os
import re
import queue
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

# The server is on loopback: never send these requests through a proxy from the environment.
for _var in ("NO_PROXY", "no_proxy"):
    os.environ[_var] = ",".join(filter(None, ["127.0.0.1,localhost", os.environ.get(_var)]))

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = ROOT / "target" / "debug" / "tailor"

PREFIX = "arn:aws:personalize:us-east-1:000000000000"
GROUP = "demo"
CATEGORIES = [
    "Books", "Electronics", "Kitchen", "Outdoors", "Toys",
    "Beauty", "Garden", "Fitness", "Music", "Pets",
]

# Filters created before the server starts (a dataset group holds at most 10, demo-filter included).
FILTERS = {
    "f-cat": 'INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ($CATS)',
    "f-notin": 'INCLUDE ItemID WHERE Items.CATEGORY_L1 NOT IN ("Books", "Toys") AND Items.PRICE <= 15.99',
    "f-range-ge-lt": 'INCLUDE ItemID WHERE Items.PRICE >= $MIN AND Items.PRICE < $MAX',
    "f-range-gt-le": 'INCLUDE ItemID WHERE Items.PRICE > $MIN AND Items.PRICE <= $MAX',
    "f-num-eq": 'INCLUDE ItemID WHERE Items.PRICE = $PRICE',
    "f-chain": 'INCLUDE ItemID WHERE Items.CATEGORY_L1 = "Pets" | EXCLUDE ItemID WHERE Items.PRICE > $XMAX',
    "f-union": 'INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("Music") | INCLUDE ItemID WHERE Items.PRICE < 8',
    "f-premium": 'INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("Books") IF CurrentUser.MEMBERSHIP = "premium"',
    "f-current": 'INCLUDE ItemID WHERE Items.CATEGORY_L1 IN (CurrentItem.CATEGORY_L1)',
}

READY = re.compile(r"tailor serving the runtime and events APIs on (http://127\.0\.0\.1:\d+)")
TRACKING = re.compile(r"event tracker trackingId ([0-9a-fA-F-]{36})")


def arn(kind: str, name: str) -> str:
    return f"{PREFIX}:{kind}/{name}"


def dataset_arn(kind: str) -> str:
    return f"{PREFIX}:dataset/{GROUP}/{kind}"


def new_id(tag: str) -> str:
    """A user/session/event id no other test (or the sample) uses."""
    return f"compat-{tag}-{uuid.uuid4().hex[:12]}"


def tailor_bin() -> Path:
    path = Path(os.environ.get("TAILOR_BIN") or DEFAULT_BIN)
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.exit(
            f"tailor binary not found at {path}: run `cargo build -p tailor-cli` in {ROOT} "
            "or set TAILOR_BIN",
            returncode=2,
        )
    return path


EMULATOR = "http://127.0.0.1:4566"
EMULATOR_ENV = {"AWS_ENDPOINT_URL": EMULATOR, "AWS_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}

# The suite's tests share one server and make dataset groups, solutions and campaigns side by
# side: room above Personalize's default quotas (filters keep theirs, which a test checks).
QUOTAS = ("dataset-groups=100,solutions-per-group=100,campaigns-per-group=100,"
          "pending-import-jobs=100,pending-solution-versions=100")


def cli_env() -> dict:
    """The environment without TAILOR_* settings that would change ARNs or the data dir, with
    the suite's quotas."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAILOR_")}
    env["TAILOR_QUOTAS"] = QUOTAS
    # s3:// import locations are read from the AWS emulator tests/run-all.sh starts.
    for k, v in EMULATOR_ENV.items():
        env.setdefault(k, v)
    return env


def run_cli(binary: Path, data_dir: Path, *args: str) -> str:
    proc = subprocess.run(
        [str(binary), "--data-dir", str(data_dir), *args],
        capture_output=True, text=True, timeout=300, env=cli_env(),
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"`tailor {' '.join(args)}` failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc.stdout


class Server:
    def __init__(self, url, tracking_id, data_dir, catalog, users, interactions):
        self.url = url
        self.tracking_id = tracking_id
        self.data_dir = data_dir
        # item id -> {column: str} as the server currently holds it (PutItems tests keep it current)
        self.catalog = catalog
        # user id -> {column: str}
        self.users = users
        # the sample's interactions.csv rows, as imported
        self.interactions = interactions


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    binary = tailor_bin()
    work = tmp_path_factory.mktemp("tailor-compat")
    data_dir = work / "data"
    sample_dir = work / "sample"
    out = run_cli(binary, data_dir, "demo", "--no-serve")
    m = TRACKING.search(out)
    assert m, f"no trackingId in the demo output:\n{out}"
    tracking_id = m.group(1)
    for name, expression in FILTERS.items():
        run_cli(binary, data_dir, "create-filter", "--name", name,
                "--dataset-group", GROUP, "--expression", expression)
    run_cli(binary, data_dir, "create-campaign", "--name", "compat-nometa",
            "--solution", "demo-personalization")
    run_cli(binary, data_dir, "create-solution", "--name", "compat-pop",
            "--dataset-group", GROUP, "--recipe", "aws-popularity-count")
    run_cli(binary, data_dir, "train", "--solution", "compat-pop")
    run_cli(binary, data_dir, "create-campaign", "--name", "compat-popc",
            "--solution", "compat-pop", "--enable-metadata")
    run_cli(binary, data_dir, "sample", "--out", str(sample_dir))
    with open(sample_dir / "items.csv", newline="") as f:
        catalog = {row["ITEM_ID"]: row for row in csv.DictReader(f)}
    with open(sample_dir / "users.csv", newline="") as f:
        users = {row["USER_ID"]: row for row in csv.DictReader(f)}
    with open(sample_dir / "interactions.csv", newline="") as f:
        interactions = list(csv.DictReader(f))

    proc = subprocess.Popen(
        [str(binary), "--data-dir", str(data_dir), "serve", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True, env=cli_env(),
    )
    lines: queue.Queue = queue.Queue()

    def pump():  # reads the server's output to the end, so it never blocks on a full pipe
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    url, seen, deadline = None, [], time.monotonic() + 60
    try:
        while url is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("tailor serve did not report its address within 60 s:\n" + "".join(seen))
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(f"tailor serve exited ({proc.wait()}):\n" + "".join(seen))
            seen.append(line)
            m = READY.search(line)
            if m:
                url = m.group(1)
        yield Server(url, tracking_id, data_dir, catalog, users, interactions)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _client(service: str, url: str):
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30),
    )


@pytest.fixture(scope="session")
def runtime(server):
    return _client("personalize-runtime", server.url)


@pytest.fixture(scope="session")
def events(server):
    return _client("personalize-events", server.url)


@pytest.fixture(scope="session")
def catalog(server):
    return server.catalog


# ARNs used across the tests.
UP = arn("campaign", "demo-campaign")
SIMS = arn("campaign", "demo-related")
NOMETA = arn("campaign", "compat-nometa")
POP = arn("campaign", "compat-popc")
DEMO_FILTER = arn("filter", "demo-filter")


def filter_arn(name: str) -> str:
    assert name in FILTERS or name == "demo-filter", name
    return arn("filter", name)


# ---------------------------------------------------------------------------------------------
# Helpers shared by the tests.

def error_of(call, *args, **kwargs):
    """Runs a boto3 call that must fail with a service error; returns (code, http status, message)."""
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    err = info.value.response
    return (
        err["Error"]["Code"],
        err["ResponseMetadata"]["HTTPStatusCode"],
        err["Error"].get("Message", ""),
    )


def assert_error(code: str, status: int, call, *args, **kwargs) -> str:
    got_code, got_status, message = error_of(call, *args, **kwargs)
    assert (got_code, got_status) == (code, status), message
    return message


def raw_post(server, path: str, body) -> tuple[int, dict, dict]:
    """POSTs raw JSON (bypassing botocore's client-side validation): (status, lower-cased headers, body)."""
    import json
    import urllib.error
    import urllib.request

    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(
        server.url + path, data=data, method="POST",
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, _lower(resp.headers), json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, _lower(e.headers), json.loads(e.read() or b"{}")


def _lower(headers) -> dict:
    return {k.lower(): v for k, v in headers.items()}


def assert_raw_error(server, path: str, body, code: str = "InvalidInputException", status: int = 400):
    got_status, headers, payload = raw_post(server, path, body)
    assert got_status == status, payload
    assert headers.get("x-amzn-errortype", "").split(":")[0] == code, (headers, payload)
    assert payload.get("message"), payload
    return payload["message"]


def ids(response) -> list[str]:
    key = "itemList" if "itemList" in response else "personalizedRanking"
    return [i["itemId"] for i in response[key]]


def price(catalog, item_id: str) -> float:
    return float(catalog[item_id]["PRICE"])


def category(catalog, item_id: str) -> str:
    return catalog[item_id]["CATEGORY_L1"]


def categories(catalog, item_id: str) -> set[str]:
    return set(category(catalog, item_id).split("|"))


def put_views(events, server, user_id, item_ids, session_id=None, event_type="View", start=1_800_000_000):
    """Streams one event per item (in batches of 10) and returns the event ids."""
    event_ids = []
    for b in range(0, len(item_ids), 10):
        batch = []
        for k, item in enumerate(item_ids[b:b + 10]):
            eid = new_id("ev")
            event_ids.append(eid)
            batch.append({"eventId": eid, "eventType": event_type, "itemId": item,
                          "sentAt": start + b + k})
        kwargs = {"trackingId": server.tracking_id, "sessionId": session_id or f"s-{user_id}",
                  "eventList": batch}
        if user_id is not None:
            kwargs["userId"] = user_id
        events.put_events(**kwargs)
    return event_ids
