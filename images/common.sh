# shellcheck shell=bash
# Shared by the image scripts (sourced, not run): messages, exit codes and the Debian package
# installer. Every script here exits 2 on a usage error, 3 when a dependency is missing and cannot
# be installed, and 1 on any other failure.

# Debian's tools live in sbin directories that a non-login shell may not have on PATH.
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}"

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { local code=$1; shift; log "error: $*"; exit "$code"; }

# set -e ends a script without a word; say which command failed, and exit 1 as documented.
set -E
trap 'log "error: line $LINENO: command failed: $BASH_COMMAND"; exit 1' ERR

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        return 1
    fi
}

# Installs the Debian packages of the arguments that are not installed yet, with no recommends.
# Exits 3 when they cannot be installed (no root, no apt, no such package, no registry).
# A second round catches a package that apt removed to install another: seen here, a backported
# qemu-utils made way for the stable qemu-system-x86.
ensure_packages() {
    local p round missing updated=
    for round in 1 2 3; do
        missing=()
        for p in "$@"; do
            [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = 'install ok installed' ] || missing+=("$p")
        done
        [ "${#missing[@]}" -eq 0 ] && return 0
        [ "$round" -lt 3 ] || break
        command -v apt-get >/dev/null 2>&1 || die 3 "missing Debian packages and no apt-get: ${missing[*]}"
        log "installing Debian packages: ${missing[*]}"
        if [ -z "$updated" ]; then
            as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 \
                || die 3 "apt-get update failed (root is needed); missing: ${missing[*]}"
            updated=1
        fi
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            "${missing[@]}" >&2 || die 3 "could not install Debian packages: ${missing[*]}"
    done
    die 3 "Debian packages still missing after installing them: ${missing[*]}"
}
