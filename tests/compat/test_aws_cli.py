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
