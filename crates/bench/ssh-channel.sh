#!/usr/bin/env bash
# Boots the linux-test image the way images/check-test-image.sh does (TCG, q35, 512 MB, 1 CPU,
# passt with SSH forwarded to 127.0.0.1 only, a throw-away key) and then, over SSH sessions to
# that one guest, times what `bench channel` reports (P2's upload, P4):
#
#   upload.plain   the agent as built, streamed into `cat > FILE`
#   upload.packed  the agent stripped and gzip-compressed, streamed into `gzip -dc > FILE`
#   raw            the generator's output read straight through the channel (`awk … ` as the
#                  remote command: what `cat` of those bytes through the session delivers)
#   events         the agent run with START on its stdin (a job whose one step runs the same
#                  generator): the step's output as the agent's JSON events
#
#   crates/bench/ssh-channel.sh IMAGEDIR AGENT PACKED START GENERATOR OUTDIR
#
# Writes OUTDIR/raw.out, OUTDIR/events.out and OUTDIR/times (one "name seconds" per line).
# Run as root from the source tree; it re-runs itself in a network namespace of its own (a tap
# device with a fake default route) so no packet leaves this machine.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
images=$here/../../images
# shellcheck source=../../images/common.sh
. "$images/common.sh"

[ "$#" -eq 6 ] || die 2 "usage: $0 IMAGEDIR AGENT PACKED START GENERATOR OUTDIR"
imagedir=$1 agent=$2 packed=$3 start=$4 generator=$5 outdir=$6
timeout_s=${SOLSTICE_CHECK_TIMEOUT:-120}
port=2222

if [ -z "${SOLSTICE_BENCH_NETNS:-}" ]; then
    [ "$(id -u)" -eq 0 ] || die 1 "run as root: the bench creates a network namespace and a tap device"
    SOLSTICE_BENCH_NETNS=1 exec unshare --net -- "$0" "$@"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/solstice-bench.XXXXXX")
qemu_pid='' passt_pid=''
cleanup() {
    local pid
    for pid in $qemu_pid $passt_pid; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
now() { echo "${EPOCHREALTIME/,/.}"; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
fail() {
    log "FAIL: $*"
    [ -s "$tmp/serial.log" ] && tail -n 20 "$tmp/serial.log" | sed 's/^/  | /' >&2
    exit 1
}

ip link set lo up
ip tuntap add dev benchtap0 mode tap
ip addr add 192.0.2.1/24 dev benchtap0
ip link set benchtap0 up
ip route add default via 192.0.2.254 dev benchtap0 onlink

nonce="bench-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
ssh-keygen -q -t ed25519 -N '' -C solstice-bench -f "$tmp/key"
ssh_run() {
    ssh -F /dev/null -i "$tmp/key" -p "$port" -o BatchMode=yes -o ConnectTimeout=10 \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
        -o IdentitiesOnly=yes "runner@127.0.0.1" "$@"
}
"$images/make-seed.sh" "$tmp/seed.img" "$nonce" "$tmp/key.pub" 2>/dev/null || fail "make-seed.sh failed"

chmod 0711 "$tmp"
mkdir "$tmp/passt"
chown nobody "$tmp/passt"
sock=$tmp/passt/passt.sock
passt -f -1 --no-map-gw --no-dhcp-dns -t "127.0.0.1/$port:22" -s "$sock" >"$tmp/passt.log" 2>&1 &
passt_pid=$!
deadline=$((SECONDS + 10))
until [ -S "$sock" ]; do
    alive "$passt_pid" || fail "passt exited before creating $sock"
    [ "$SECONDS" -lt "$deadline" ] || fail "passt created no socket within 10 s"
    sleep 0.05
done

kernel=vmlinuz
[ -r "$imagedir/vmlinux" ] && kernel=vmlinux
qemu-system-x86_64 -accel tcg -machine q35 -m 512 -smp 1 \
    -nodefaults -nographic -no-reboot \
    -kernel "$imagedir/$kernel" -initrd "$imagedir/initramfs.cpio.gz" \
    -append "console=ttyS0 quiet panic=-1" \
    -serial "file:$tmp/serial.log" \
    -drive "file=$tmp/seed.img,if=none,id=seed,format=raw,readonly=on" \
    -device virtio-blk-pci,drive=seed \
    -netdev "stream,id=n0,server=off,addr.type=unix,addr.path=$sock" \
    -device virtio-net-pci,netdev=n0,romfile= \
    </dev/null >"$tmp/qemu.log" 2>&1 &
qemu_pid=$!

# Polling a serial log and a port is how one waits for a guest that can signal nothing else.
deadline=$((SECONDS + timeout_s))
until ssh_run hostname </dev/null >/dev/null 2>&1; do
    alive "$qemu_pid" || fail "QEMU exited before SSH answered"
    [ "$SECONDS" -lt "$deadline" ] || fail "SSH did not answer within $timeout_s s"
    sleep 0.2
done

: >"$outdir/times"
t=$(now)
ssh_run 'cat > /tmp/agent.plain && chmod +x /tmp/agent.plain' <"$agent" || fail "the plain upload failed"
echo "upload.plain $(since "$t" "$(now)")" >>"$outdir/times"
t=$(now)
ssh_run 'gzip -dc > /tmp/workflow-runner && chmod +x /tmp/workflow-runner' <"$packed" || fail "the packed upload failed"
echo "upload.packed $(since "$t" "$(now)")" >>"$outdir/times"
cmp_out=$(ssh_run 'cmp /tmp/agent.plain /tmp/workflow-runner >/dev/null 2>&1 && echo same || echo stripped; rm -f /tmp/agent.plain' </dev/null)
echo "# packed agent in the guest: $cmp_out" >>"$outdir/times"

t=$(now)
ssh_run "$generator" </dev/null >"$outdir/raw.out" || fail "the raw generator failed"
echo "raw $(since "$t" "$(now)")" >>"$outdir/times"
t=$(now)
ssh_run 'mkdir -p "$HOME/work" && exec /tmp/workflow-runner --work-dir "$HOME/work"' <"$start" >"$outdir/events.out" \
    || fail "the agent failed"
echo "events $(since "$t" "$(now)")" >>"$outdir/times"
