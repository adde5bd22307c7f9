#!/usr/bin/env bash
# Every test of the project: formatting, lints, unit, integration, CLI, wire-compatibility and
# AWS end-to-end tests, the infrastructure lint and the Lambda deploy build.
# This is the README's test command; .ci/run calls it as is.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
step() { echo "== $1 (at $((SECONDS - started)) s)"; }

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is required: install Rust from https://rustup.rs" >&2
  exit 1
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

step "cargo fmt --check"
cargo fmt --all -- --check

# Clippy runs as the compiler of the workspace's own crates inside the one test build (what
# `cargo clippy` does, minus its second, check-only pass over every dependency): same lints,
# `-D warnings`, half the compile time on two cores.
export RUSTC_WORKSPACE_WRAPPER="$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver)"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
step "build with clippy -D warnings (tests, benches, binaries)"
cargo test --workspace --all-targets --all-features --no-run
cargo build --workspace --bins --all-features

# The AWS adapters' conformance suites and the end-to-end test run against an emulator on
# 127.0.0.1:4566 (MiniStack from PyPI here; LocalStack on the same port works too). Stopped
# however this script ends.
step "AWS emulator"
bash tests/emulator.sh start
trap 'bash tests/emulator.sh stop' EXIT

step "cargo test"
AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  cargo test --workspace --all-targets --all-features

# Wire compatibility: boto3's personalize / personalize-runtime / personalize-events clients,
# the AWS CLI (v1) and the JavaScript SDK v3 against a real `tailor serve`, in a venv and a
# node_modules this script makes.
step "client compatibility tests (boto3, AWS CLI, JavaScript SDK v3, the console in Chromium)"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r tests/compat/requirements.txt
if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "Node.js and npm are required for the JavaScript SDK tests: install them" >&2
    exit 1
  fi
fi
(cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
# The console tests drive Debian's Chromium with Playwright (no browser download).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "Chromium is required for the console tests: install it (Debian: apt-get install chromium)" >&2
    exit 1
  fi
fi
TAILOR_BIN="$PWD/target/debug/tailor" .venv/bin/python -m pytest tests/compat -q -p no:cacheprovider

# The deployment on the emulator: S3 upload → import Lambda → state machine → campaign →
# GetRecommendations / PutEvents through the HTTP API with boto3.
step "AWS end-to-end test"
bash tests/e2e/run.sh

step "infrastructure lint"
bash tests/infra-lint.sh

# The cross build for Lambda (aarch64, zig, AL2023's glibc). CI checks that it builds and links
# at opt-level 0 to stay in its time budget; `bash tests/lambda-build.sh` alone builds the full
# release profile that deploys.
step "Lambda deploy build"
if [[ -n "${CI:-}" ]]; then
  TAILOR_LAMBDA_QUICK=1 bash tests/lambda-build.sh
else
  bash tests/lambda-build.sh
fi
step "all tests passed"
