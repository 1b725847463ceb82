#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test Solstice CI, and nothing more:
# Debian packages that are missing, the Rust toolchain (rustup) when cargo is absent, and the
# cross targets the agent is checked for. Safe to run again; it skips what is there.
set -euo pipefail

log() { printf 'setup: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        log "need root for: $*"; exit 3; fi
}

# Packages the tests use: shells and interpreters steps run under (bash, sh, python3, perl),
# git for the github context of `solstice run`, a C toolchain for crates with C parts.
packages=(bash dash python3 perl git ca-certificates curl gcc libc6-dev pkg-config tar)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
    [ -x "$HOME/.cargo/bin/cargo" ] || {
        log "installing the Rust toolchain with rustup"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt,clippy
    }
    export PATH="$HOME/.cargo/bin:$PATH"
fi

# The agent must type-check for illumos and FreeBSD and build statically for musl.
installed_targets=$(rustup target list --installed 2>/dev/null || true)
for t in x86_64-unknown-illumos x86_64-unknown-freebsd x86_64-unknown-linux-musl; do
    grep -qx "$t" <<<"$installed_targets" || { log "adding Rust target $t"; rustup target add "$t"; }
done
