"""What a new user meets first, through real clients: operations tailor does not serve answer
Personalize's error naming the operation, the request id boto3 reports, and the demo's printed
boto3 one-liner running as printed."""

import re
import subprocess
import sys
import time

from conftest import UP, _client, assert_error, cli_env, tailor_bin


def test_unimplemented_runtime_operation_is_named(runtime):
    message = assert_error("UnknownOperationException", 400, runtime.get_action_recommendations,
                           campaignArn=UP, userId="U0001")
    assert "GetActionRecommendations" in message


def test_unimplemented_events_operations_are_named(events, server):
    message = assert_error(
        "UnknownOperationException", 400, events.put_action_interactions,
        trackingId=server.tracking_id,
        actionInteractions=[{"actionId": "a", "sessionId": "s", "timestamp": 1_800_000_000,
                             "eventType": "View"}],
    )
    assert "PutActionInteractions" in message
    message = assert_error("UnknownOperationException", 400, events.put_actions,
                           datasetArn="arn:aws:personalize:us-east-1:000000000000:dataset/demo/ACTIONS",
                           actions=[{"actionId": "a"}])
    assert "PutActions" in message


def test_control_plane_operations_are_named(server):
    control = _client("personalize", server.url)
    message = assert_error("UnknownOperationException", 400, control.list_recommenders)
    assert "ListRecommenders" in message and "tailor" in message
    message = assert_error("UnknownOperationException", 400, control.describe_metric_attribution,
                           metricAttributionArn="arn:aws:personalize:us-east-1:000000000000:metric-attribution/none")
    assert "DescribeMetricAttribution" in message


def test_answers_carry_a_request_id(runtime):
    answer = runtime.get_recommendations(campaignArn=UP, userId="U0001", numResults=1)
    assert re.fullmatch(r"[0-9a-f-]{36}", answer["ResponseMetadata"]["RequestId"])


def test_demo_boto3_line_runs_as_printed(tmp_path):
    proc = subprocess.Popen(
        [str(tailor_bin()), "--data-dir", str(tmp_path / "data"), "demo", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        start_new_session=True, env=cli_env(),
    )
    try:
        line, deadline = None, time.monotonic() + 600
        for out in proc.stdout:
            if out.startswith("python3 -c "):
                line = out.strip()
                break
            assert time.monotonic() < deadline, "the demo took too long"
        assert line, "no boto3 line in the demo's output"
        # As printed, with this environment's python (the one with boto3) and no AWS settings.
        env = {k: v for k, v in cli_env().items() if not k.startswith("AWS_")}
        env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
        command = sys.executable + line[len("python3"):]
        ran = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60,
                             env=env)
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.startswith("[{'itemId': "), ran.stdout
    finally:
        proc.terminate()
        proc.wait(timeout=10)
