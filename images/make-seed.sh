#!/usr/bin/env bash
# Builds the NoCloud seed the linux-test image reads at boot: a 2 MB FAT file system labelled
# `cidata` holding two files (see images/README.md, "Seed format"):
#
#   meta-data   instance-id: iid-HOSTNAME
#               local-hostname: HOSTNAME
#   user-data   #cloud-config, one user `runner` whose ssh_authorized_keys are the keys of PUBKEY_FILE
#
#   images/make-seed.sh OUT.img HOSTNAME PUBKEY_FILE
#
# The orchestrator writes the same files itself; this script documents the format and serves the
# boot check. OUT.img is replaced atomically. Exit codes: 0 written, 1 failed, 2 usage, 3 a
# dependency (dosfstools, mtools) cannot be installed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/common.sh
. "$here/common.sh"

case "${1:-}" in
    -h | --help) sed -n '2,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
esac
[ "$#" -eq 3 ] || die 2 "usage: $0 OUT.img HOSTNAME PUBKEY_FILE"
out=$1 host=$2 pubkeys=$3

# One DNS label: the guest refuses anything else, and tests use it as a per-job nonce.
[[ "$host" =~ ^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$ ]] \
    || die 2 "HOSTNAME must be a DNS label (letters, digits, inner hyphens, at most 63): '$host'"
[ -r "$pubkeys" ] || die 2 "cannot read PUBKEY_FILE $pubkeys"
key_re='^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/=]+( .*)?$'
mapfile -t keys < <(grep -E "$key_re" "$pubkeys" || true)
[ "${#keys[@]}" -gt 0 ] || die 2 "$pubkeys holds no OpenSSH public key line"

ensure_packages dosfstools mtools

work=$(mktemp -d "${TMPDIR:-/tmp}/solstice-seed.XXXXXX")
trap 'rm -rf "$work"' EXIT

printf 'instance-id: iid-%s\nlocal-hostname: %s\n' "$host" "$host" >"$work/meta-data"
{
    echo '#cloud-config'
    echo 'users:'
    echo '  - name: runner'
    echo '    ssh_authorized_keys:'
    for k in "${keys[@]}"; do printf '      - %s\n' "$k"; done
} >"$work/user-data"

truncate -s 2M "$work/seed.img"
# mkfs.fat warns that lowercase labels may not work everywhere; cloud-init looks for lowercase.
mkfs.vfat -n cidata "$work/seed.img" >/dev/null 2>"$work/mkfs.err" \
    || { cat "$work/mkfs.err" >&2; die 1 "mkfs.vfat failed"; }
MTOOLS_SKIP_CHECK=1 mcopy -o -i "$work/seed.img" "$work/meta-data" "$work/user-data" ::/
# Copy next to OUT first so the final rename is atomic even across file systems.
mkdir -p "$(dirname "$out")"
tmp_out="$(dirname "$out")/.$(basename "$out").tmp.$$"
cp "$work/seed.img" "$tmp_out"
mv -f "$tmp_out" "$out"
log "wrote $out (cidata, hostname $host, ${#keys[@]} key(s))"
