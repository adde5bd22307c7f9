#!/usr/bin/env bash
# Every test of the project: formatting, lints, unit, integration and CLI tests.
# This is the README's test command; .ci/run calls it as is.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is required: install Rust from https://rustup.rs" >&2
  exit 1
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
# The AWS adapters' conformance suites run against an emulator on 127.0.0.1:4566 (MiniStack
# from PyPI here; LocalStack on the same port works too). Stopped however this script ends.
echo "== AWS emulator"
bash tests/emulator.sh start
trap 'bash tests/emulator.sh stop' EXIT

echo "== cargo test"
AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  cargo test --workspace --all-targets

# Wire compatibility: boto3's personalize-runtime / personalize-events clients against a real
# `tailor serve`, in a venv this script makes.
echo "== boto3 compatibility tests"
cargo build -q -p tailor-cli
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r tests/compat/requirements.txt
TAILOR_BIN="$PWD/target/debug/tailor" .venv/bin/python -m pytest tests/compat -q -p no:cacheprovider
