#!/usr/bin/env bash
# The test suite, as README.md gives it and CI runs it: install what is missing, build every
# binary (the end-to-end tests drive the real ones), run all tests, then check the agent for the
# guest targets.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

# GitHub's conformance vectors live beside the repository in this workplace (never copied in).
if [ -z "${SOLSTICE_CONFORMANCE_DIR:-}" ]; then
    for d in ../shared/conformance/actions-languageservices /work/shared/conformance/actions-languageservices; do
        if [ -d "$d" ]; then export SOLSTICE_CONFORMANCE_DIR="$(cd "$d" && pwd)"; break; fi
    done
fi

step() { printf '\n==> %s\n' "$*" >&2; }

step "format"
cargo fmt --all --check

# The qemu executor's tests boot the offline test image; build it where they look
# (/var/lib/solstice/images/linux-test, which needs root: CI runs as root) and make a skipped VM
# test a failure. Without root they skip, loudly.
if [ "$(id -u)" -eq 0 ]; then
    step "offline test image"
    scripts/test-image.sh /var/lib/solstice/images/linux-test >/dev/null
    export SOLSTICE_REQUIRE_VM=1
else
    step "not root: the VM tests will be SKIPPED (run as root to boot them)"
fi

step "build all binaries"
cargo build --workspace --bins --locked

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi

step "agent for guest targets"
cargo check -p workflow-runner --locked --target x86_64-unknown-illumos
cargo check -p workflow-runner --locked --target x86_64-unknown-freebsd
cargo build -p workflow-runner --locked --target x86_64-unknown-linux-musl
