#!/usr/bin/env bash
# README's first command: install what is missing, build the offline test image `linux-test`
# when it is absent, build Solstice, and run examples/hello.yml with the qemu executor: each
# job in a throw-away VM whose hostname is the job id. Extra arguments go to `solstice run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
scripts/test-image.sh >/dev/null
cargo build --workspace --bins --locked --quiet
target="${CARGO_TARGET_DIR:-target}/debug"
exec "$target/solstice" run --executor qemu examples/hello.yml "$@"
