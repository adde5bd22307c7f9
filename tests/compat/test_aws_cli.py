"""The AWS CLI (v1, from PyPI) runs Personalize's lifecycle against a live `tailor serve`
(tests/compat/aws_cli_lifecycle.sh), as a user's shell script would."""

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, cli_env, tailor_bin


def test_the_lifecycle_through_the_aws_cli(server, tmp_path):
    subprocess.run([str(tailor_bin()), "--data-dir", str(tmp_path / "scratch"), "sample",
                    "--out", str(tmp_path / "sample")], check=True, env=cli_env(),
                   capture_output=True)
    # The CLI installed beside this interpreter (the test venv's bin/aws).
    aws = Path(sys.executable).parent / "aws"
    assert aws.is_file(), f"no AWS CLI at {aws}: pip install -r tests/compat/requirements.txt"
    env = {**cli_env(), "PATH": f"{aws.parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        ["bash", str(ROOT / "tests" / "compat" / "aws_cli_lifecycle.sh"), server.url,
         str(tmp_path / "sample" / "interactions.csv"),
         str(ROOT / "schemas" / "ecommerce-interactions.json")],
        capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    assert "lifecycle through the AWS CLI: ok" in proc.stdout


def test_the_aws_cli_reaches_a_stack_through_the_signing_proxy(server, tmp_path):
    """The README's way for the AWS CLI to a deployed stack, whose API is IAM-authorised for
    `execute-api`: `tailor console --endpoint` on loopback re-signs each call with the caller's
    credentials. Here the "stack" is the live `tailor serve`; answers and errors come back
    through the proxy as the CLI expects them."""
    import re

    from conftest import arn

    aws = Path(sys.executable).parent / "aws"
    env = {**cli_env(), "PATH": f"{aws.parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1"}
    proxy = subprocess.Popen([str(tailor_bin()), "console", "--endpoint", server.url, "--port", "0"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        m = re.search(r"http://(127\.0\.0\.1:\d+)/console", proxy.stdout.readline())
        assert m, "the proxy printed no address"
        url = f"http://{m.group(1)}"

        def cli(*args):
            return subprocess.run([str(aws), "--endpoint-url", url, "personalize", *args],
                                  capture_output=True, text=True, timeout=120, env=env)

        listed = cli("list-dataset-groups", "--query", "datasetGroups[].name", "--output", "text")
        assert listed.returncode == 0, listed.stderr
        assert "demo" in listed.stdout.split()
        described = cli("describe-dataset-group", "--dataset-group-arn", arn("dataset-group", "demo"),
                        "--query", "datasetGroup.status", "--output", "text")
        assert described.stdout.strip() == "ACTIVE", described.stderr
        missing = cli("describe-dataset-group", "--dataset-group-arn",
                      arn("dataset-group", "no-such-group"))
        assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr, \
            missing.stderr
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
