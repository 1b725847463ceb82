#!/usr/bin/env bash
# Installs Solstice CI as system services: the systemd units of deploy/systemd/ into
# /etc/systemd/system, a settings template per unit into /etc/solstice/*.env (mode 0600, with one
# freshly generated bus key shared by all of them; existing files are kept as they are), the
# system user `solstice` the runners run as, and optionally the binaries into /usr/local/bin.
# Then `systemctl daemon-reload`. It enables and starts nothing: fill the .env files first.
#
#   scripts/install-units.sh [--dry-run] [--root DIR] [--binaries DIR]
#
#   --dry-run       print what would be done, change nothing (no root needed)
#   --root DIR      install under DIR instead of / (a staging tree: no user, no systemctl)
#   --binaries DIR  also copy orchestrator, forgejo-runner, github-runner, solstice and
#                   workflow-runner from DIR (e.g. target/release) to /usr/local/bin
#
# Exit codes: 0 done, 1 a step failed, 2 usage, 3 not root (and neither --dry-run nor --root).
set -euo pipefail

log() { printf 'install-units: %s\n' "$*" >&2; }
usage() { log "$*"; sed -n '8,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

here=$(cd "$(dirname "$0")/.." && pwd)
units_dir="$here/deploy/systemd"
binaries=(orchestrator forgejo-runner github-runner solstice workflow-runner)

dry_run=no
root=""
bin_dir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry_run=yes ;;
        --root) [ $# -ge 2 ] || usage "--root needs a directory"; root=$2; shift ;;
        --binaries) [ $# -ge 2 ] || usage "--binaries needs a directory"; bin_dir=$2; shift ;;
        -h | --help) usage "installs the systemd units" ;;
        *) usage "unknown argument: $1" ;;
    esac
    shift
done
if [ -n "$bin_dir" ]; then
    for bin in "${binaries[@]}"; do
        [ -x "$bin_dir/$bin" ] || { log "$bin_dir/$bin is missing (cargo build --release --locked first)"; exit 1; }
    done
fi
if [ -n "$root" ] && [ "$dry_run" = no ]; then
    mkdir -p "$root" && root=$(cd "$root" && pwd) || { log "cannot create $root"; exit 1; }
fi
if [ "$dry_run" = no ] && [ -z "$root" ] && [ "$(id -u)" -ne 0 ]; then
    log "run as root (or with --dry-run, or --root DIR for a staging tree)"
    exit 3
fi

# Runs a command, or prints it with --dry-run.
run() {
    if [ "$dry_run" = yes ]; then printf 'would run: %s\n' "$*"; else "$@"; fi
}

# The system user the runners run as; the orchestrator and `solstice serve` run as root.
if [ -z "$root" ]; then
    if id solstice >/dev/null 2>&1; then
        log "user solstice exists"
    else
        run useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin solstice
    fi
fi

if [ -n "$bin_dir" ]; then
    run install -d -m 0755 "$root/usr/local/bin"
    for bin in "${binaries[@]}"; do
        run install -m 0755 "$bin_dir/$bin" "$root/usr/local/bin/$bin"
    done
fi

run install -d -m 0755 "$root/etc/systemd/system"
for unit in "$units_dir"/*.service; do
    run install -m 0644 "$unit" "$root/etc/systemd/system/$(basename "$unit")"
done

# One key for every template this run writes, so the runners and the orchestrator agree; a
# file that exists already keeps its own (and so its key).
bus_key=$(head -c 32 /dev/urandom | base64)
run install -d -m 0700 "$root/etc/solstice"
for template in "$units_dir"/*.env; do
    target="$root/etc/solstice/$(basename "$template")"
    if [ -e "$target" ]; then
        log "$target exists; kept as it is"
        continue
    fi
    if [ "$dry_run" = yes ]; then
        printf 'would write: %s (mode 0600, from %s, with a new bus key)\n' "$target" "$template"
        continue
    fi
    # Created empty with mode 0600 before the key goes in: the key is never readable by others.
    install -m 0600 /dev/null "$target"
    sed "s|@BUS_KEY@|$bus_key|" "$template" > "$target"
    log "wrote $target"
done

if [ -z "$root" ]; then
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        run systemctl daemon-reload
    else
        log "systemd is not running here: run 'systemctl daemon-reload' where it does"
    fi
fi

cat >&2 <<EOF
install-units: next steps
  1. edit ${root}/etc/solstice/*.env (SOLSTICE_AMQP_URL at least; see docs/configuration.md)
  2. register a runner (docs/getting-started-forgejo.md, docs/getting-started-github.md)
  3. systemctl enable --now solstice-orchestrator solstice-forgejo-runner
     (or solstice-serve alone for one host without RabbitMQ and PostgreSQL)
EOF
