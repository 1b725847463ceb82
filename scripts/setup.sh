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
# git for the github context of `solstice run`, a C toolchain for crates with C parts, and the
# services the store and bus tests talk to for real (PostgreSQL, RabbitMQ), and what the qemu
# executor runs on the host (QEMU, qemu-img for overlays, passt for the guest's network, mkfs.vfat
# and mcopy for the NoCloud seed, ip for the per-VM network namespaces, nft for the routed
# uplink's host-side rules), and openssl for the test CA of the proxy/TLS tests. What the offline test
# image is built from, images/build-test-image.sh installs itself.
packages=(bash dash python3 perl git ca-certificates curl gcc libc6-dev pkg-config tar file openssl
    postgresql rabbitmq-server
    qemu-system-x86 qemu-utils passt dosfstools mtools iproute2 nftables)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
fresh_postgres=no
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    [[ " ${missing[*]} " == *" postgresql "* ]] && fresh_postgres=yes
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# PostgreSQL: started when it is not answering. A cluster this script just installed gets trust
# auth on loopback for the tests (user postgres at 127.0.0.1:5432); an existing one is left as it is.
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    cluster=$(ls /etc/postgresql | sort -V | tail -n 1)
    if [ "$fresh_postgres" = yes ]; then
        hba="/etc/postgresql/$cluster/main/pg_hba.conf"
        log "trusting loopback connections in $hba (a cluster installed for the tests)"
        as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
    fi
    log "starting PostgreSQL $cluster"
    as_root pg_ctlcluster --skip-systemctl-redirect "$cluster" main start
    for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
    pg_isready -h 127.0.0.1 -p 5432 >/dev/null || { log "PostgreSQL did not come up"; exit 3; }
fi

# RabbitMQ: started when it is not running; `await_startup` waits for it instead of a sleep.
if ! as_root rabbitmqctl -q status >/dev/null 2>&1; then
    log "starting RabbitMQ"
    as_root rabbitmq-server -detached
    as_root timeout 120 rabbitmqctl -q await_startup || { log "RabbitMQ did not come up"; exit 3; }
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
