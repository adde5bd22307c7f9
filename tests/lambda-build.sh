#!/usr/bin/env bash
# The deploy build: `cargo lambda build --release --arm64` (what `sam build` runs through
# BuildMethod rust-cargolambda), cross-compiled with zig against AL2023's glibc, then the
# size of each function's bootstrap.
#
#   bash tests/lambda-build.sh            # full release profile (what deploys)
#   TAILOR_LAMBDA_QUICK=1 bash tests/lambda-build.sh
#       # the same cross build at opt-level 0: proves target, toolchain and link in CI time
#
# cargo-lambda (and the zig it links with) comes from PyPI into .venv-infra. If the aarch64
# target cannot be fetched, the build falls back to --x86-64 and says so; the template stays
# arm64.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${INFRA_VENV:-.venv-infra}"
if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -m pip show cargo-lambda 2>/dev/null | grep -qx "Version: 1.9.2"; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check cargo-lambda==1.9.2
fi
export PATH="$PWD/$VENV/bin:$PATH"
# A wrapper set by the test command (clippy) is not wanted for the deploy build.
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS

arch=--arm64
target=aarch64-unknown-linux-gnu
if ! rustup target list --installed | grep -qx "$target" \
    && ! rustup target add "$target" >/dev/null 2>&1; then
    echo "note: the $target target could not be fetched here: building --x86-64 instead" \
         "(the template still deploys arm64)" >&2
    arch=--x86-64
    target=x86_64-unknown-linux-gnu
fi

quick=()
if [[ -n "${TAILOR_LAMBDA_QUICK:-}" ]]; then
    echo "note: CI build at opt-level 0 without LTO (TAILOR_LAMBDA_QUICK): same target, toolchain" \
         "and link, not the deployed optimisation" >&2
    export CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_DEBUG=false
    quick=(--disable-optimizations)
fi

bins=(tailor-import tailor-train tailor-recommend tailor-rank tailor-events tailor-control tailor-batch)
args=()
for b in "${bins[@]}"; do args+=(--bin "$b"); done
echo "== cargo lambda build --release $arch"
cargo lambda build --release "$arch" ${quick[@]+"${quick[@]}"} "${args[@]}"

echo "== bootstrap sizes ($target)"
for b in "${bins[@]}"; do
    f="target/lambda/$b/bootstrap"
    [[ -x "$f" ]] || { echo "missing $f" >&2; exit 1; }
    awk -v b="$b" -v s="$(stat -c %s "$f")" 'BEGIN { printf "%-18s %6.1f MB\n", b, s / 1048576 }'
done
