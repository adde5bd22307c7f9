"""The AWS SDK for JavaScript v3 (from npm, under Node's own test runner) against a live
`tailor serve`: tests/js/lifecycle.test.js. tests/run-all.sh installs tests/js's locked
packages with `npm ci`."""

import shutil
import subprocess

import pytest

from conftest import ROOT, cli_env, tailor_bin

JS = ROOT / "tests" / "js"


def test_the_javascript_sdk_v3(server, tmp_path):
    node = shutil.which("node")
    if node is None or not (JS / "node_modules" / "@aws-sdk" / "client-personalize").is_dir():
        pytest.fail("Node.js and tests/js's packages are needed: run `npm ci` in tests/js")
    subprocess.run([str(tailor_bin()), "--data-dir", str(tmp_path / "scratch"), "sample",
                    "--out", str(tmp_path / "sample")], check=True, env=cli_env(),
                   capture_output=True)
    env = {**cli_env(), "TAILOR_URL": server.url,
           "TAILOR_INTERACTIONS": str(tmp_path / "sample" / "interactions.csv"),
           "TAILOR_SCHEMA": str(ROOT / "schemas" / "ecommerce-interactions.json"),
           "NO_PROXY": "127.0.0.1,localhost"}
    proc = subprocess.run([node, "--test", "lifecycle.test.js"], cwd=JS, capture_output=True,
                          text=True, timeout=600, env=env)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    assert "# pass 1" in proc.stdout and "# fail 0" in proc.stdout, proc.stdout
