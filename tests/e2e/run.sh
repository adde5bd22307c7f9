#!/usr/bin/env bash
# The AWS end-to-end test (tests/e2e/test_aws_e2e.py): deploys the five Lambda functions, the
# HTTP API, the training state machine, a bucket, two tables and a KMS key to the emulator, drives
# them with the `tailor --aws` CLI and boto3, and deletes everything again.
#
# Expects the emulator to be running (bash tests/emulator.sh start) and the binaries to be built
# (cargo build --workspace: target/debug/tailor-{import,train,recommend,rank,events} and tailor).
# Extra arguments go to pytest (e.g. -x, -k recommendations). Function logs: target/e2e/*.log.
set -euo pipefail
cd "$(dirname "$0")/../.."

export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}"
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
unset AWS_SESSION_TOKEN AWS_PROFILE
export TAILOR_LAMBDA_DIR="${TAILOR_LAMBDA_DIR:-$PWD/target/debug}"
export TAILOR_BIN="${TAILOR_BIN:-$PWD/target/debug/tailor}"
export TAILOR_E2E_LOG_DIR="${TAILOR_E2E_LOG_DIR:-$PWD/target/e2e}"

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r tests/compat/requirements.txt
exec .venv/bin/python -m pytest tests/e2e -q -p no:cacheprovider -rA "$@"
