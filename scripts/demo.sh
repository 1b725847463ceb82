#!/usr/bin/env bash
# README's first command: build Solstice and run examples/hello.yml. Until the QEMU executor
# lands this uses the local executor, which runs the steps on this host without isolation.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --workspace --bins --locked --quiet
target="${CARGO_TARGET_DIR:-target}/debug"
exec "$target/solstice" run --executor local examples/hello.yml "$@"
