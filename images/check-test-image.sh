#!/usr/bin/env bash
# Proves the linux-test image boots and answers SSH, the way the orchestrator will use it:
# QEMU under TCG (never KVM: /dev/kvm hangs QEMU on this workplace), a read-only `cidata` seed
# carrying a fresh hostname nonce and a throw-away ed25519 key, networking through passt with the
# SSH port forwarded to 127.0.0.1 only. It waits for the ready marker on the serial log and for SSH,
# checks that `hostname` over SSH is the nonce, powers the VM off and checks that no QEMU or passt
# process is left. It prints the timings.
#
#   images/check-test-image.sh [--kernel vmlinux|vmlinuz] [--poweroff acpi|ssh] [--agent PATH]
#                              [IMAGEDIR]
#
# IMAGEDIR defaults to ${SOLSTICE_STATE_DIR:-/var/lib/solstice}/images/linux-test (build it with
# images/build-test-image.sh). --kernel picks the PVH ELF `vmlinux` (default when built) or the
# bzImage `vmlinuz`. --poweroff acpi (default) presses the ACPI power button through QMP, as the
# orchestrator would; ssh runs `poweroff` in the guest. --agent uploads a glibc-linked agent
# binary (workflow-runner) and runs its --help in the guest, proving the image's glibc fits it.
# SOLSTICE_CHECK_TIMEOUT (seconds, default 120) bounds each wait; SOLSTICE_CHECK_CLIENT=dbclient
# uses dropbear's client even when OpenSSH's is installed. Run as root: everything runs in a
# network namespace this script creates (a tap device with a fake default route), so no packet
# leaves this machine.
# Exit codes: 0 passed, 1 failed, 2 usage, 3 a dependency cannot be installed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/common.sh
. "$here/common.sh"

orig_args=("$@")
poweroff_mode=acpi
kernel_file=
agent=
while [ "$#" -gt 0 ]; do
    case "$1" in
        -h | --help) sed -n '2,22s/^# \{0,1\}//p' "$0"; exit 0 ;;
        --agent) [ "$#" -ge 2 ] || die 2 "--agent needs a path"; agent=$(realpath -m "$2"); shift 2 ;;
        --agent=*) agent=$(realpath -m "${1#*=}"); shift ;;
        --kernel) [ "$#" -ge 2 ] || die 2 "--kernel needs vmlinux or vmlinuz"; kernel_file=$2; shift 2 ;;
        --kernel=*) kernel_file=${1#*=}; shift ;;
        --poweroff) [ "$#" -ge 2 ] || die 2 "--poweroff needs acpi or ssh"; poweroff_mode=$2; shift 2 ;;
        --poweroff=*) poweroff_mode=${1#*=}; shift ;;
        -*) die 2 "unknown option $1" ;;
        *) break ;;
    esac
done
case "$poweroff_mode" in acpi | ssh) ;; *) die 2 "--poweroff must be acpi or ssh, not $poweroff_mode" ;; esac
case "$kernel_file" in '' | vmlinux | vmlinuz) ;; *) die 2 "--kernel must be vmlinux or vmlinuz" ;; esac
[ "$#" -le 1 ] || die 2 "usage: $0 [--kernel vmlinux|vmlinuz] [--poweroff acpi|ssh] [--agent PATH] [IMAGEDIR]"
imagedir=$(realpath -m "${1:-${SOLSTICE_STATE_DIR:-/var/lib/solstice}/images/linux-test}")
if [ -z "$kernel_file" ]; then
    kernel_file=vmlinuz
    [ -r "$imagedir/vmlinux" ] && kernel_file=vmlinux
fi
timeout_s=${SOLSTICE_CHECK_TIMEOUT:-120}
port=2222 # inside our own network namespace, so nothing else can hold it

# --- outside the namespace: dependencies, then re-run inside a fresh one -----------------------
if [ -z "${SOLSTICE_CHECK_NETNS:-}" ]; then
    [ "$(id -u)" -eq 0 ] || die 1 "run as root: the check creates a network namespace and a tap device"
    for f in "$kernel_file" initramfs.cpio.gz; do
        [ -r "$imagedir/$f" ] || die 1 "no $imagedir/$f; build it with images/build-test-image.sh $imagedir"
    done
    pkgs=(qemu-system-x86 passt dosfstools mtools iproute2 util-linux procps)
    # QMP is spoken with a few lines of Python.
    if [ "$poweroff_mode" = acpi ] && ! command -v python3 >/dev/null; then pkgs+=(python3); fi
    # The SSH client: OpenSSH when installed, else dbclient from dropbear-bin.
    if [ "${SOLSTICE_CHECK_CLIENT:-}" = dbclient ] || ! command -v ssh >/dev/null || ! command -v ssh-keygen >/dev/null; then
        pkgs+=(dropbear-bin)
    fi
    ensure_packages "${pkgs[@]}"
    [ -z "$agent" ] || [ -x "$agent" ] || die 2 "--agent $agent is not an executable file"
    SOLSTICE_CHECK_NETNS=1 exec unshare --net -- "$0" "${orig_args[@]}"
fi

# --- inside the namespace ------------------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/solstice-check.XXXXXX")
qemu_pid='' passt_pid=''
cleanup() {
    # Only the processes this script started, by their ids; reaped here, since the PID 1 of a
    # container may never reap the orphans we would leave.
    local pid
    for pid in $qemu_pid $passt_pid; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "${SOLSTICE_CHECK_KEEP:-}" ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

now() { echo "${EPOCHREALTIME/,/.}"; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
fail() {
    log "FAIL: $*"
    if [ -s "$tmp/serial.log" ]; then
        log "last lines of the serial console:"
        tail -n 40 "$tmp/serial.log" | sed 's/^/  | /' >&2
    fi
    if [ -s "$tmp/passt.log" ]; then
        log "passt said:"
        grep -v '^Failed to send [0-9]* bytes to syslog$' "$tmp/passt.log" | sed 's/^/  | /' >&2
    fi
    [ -s "$tmp/qemu.log" ] && { log "qemu said:"; sed 's/^/  | /' "$tmp/qemu.log" >&2; }
    exit 1
}
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# A tap device with an address from TEST-NET-1 (RFC 5737) and a default route through a gateway
# that does not exist: passt needs a default-route interface to copy for the guest, and this one
# leads nowhere, so the guest can reach nothing but the namespace itself.
{
    ip link set lo up &&
        ip tuntap add dev soltap0 mode tap &&
        ip addr add 192.0.2.1/24 dev soltap0 &&
        ip link set soltap0 up &&
        ip route add default via 192.0.2.254 dev soltap0 onlink
} || fail "cannot set up the tap device and fake default route in the network namespace"

# The throw-away key; the product keeps its key in memory only. ssh_run reads the caller's stdin.
nonce="ci-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
if [ "${SOLSTICE_CHECK_CLIENT:-}" != dbclient ] && command -v ssh >/dev/null && command -v ssh-keygen >/dev/null; then
    client=ssh
    ssh-keygen -q -t ed25519 -N '' -C "solstice-check" -f "$tmp/key"
    ssh_run() { # user command…
        local user=$1
        shift
        ssh -F /dev/null -i "$tmp/key" -p "$port" -o BatchMode=yes -o ConnectTimeout=10 \
            -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
            -o IdentitiesOnly=yes "$user@127.0.0.1" "$@"
    }
else
    client=dbclient
    dropbearkey -t ed25519 -f "$tmp/key" >/dev/null 2>&1
    dropbearkey -y -f "$tmp/key" | grep '^ssh-ed25519 ' >"$tmp/key.pub"
    ssh_run() {
        local user=$1
        shift
        # -y -y: accept any host key, and say so on stderr each time, which we drop.
        timeout 20 dbclient -y -y -i "$tmp/key" -p "$port" "$user@127.0.0.1" "$@" \
            2> >(grep -v -e 'skipping hostkey check' -e '^$' >&2)
    }
fi
"$here/make-seed.sh" "$tmp/seed.img" "$nonce" "$tmp/key.pub" 2>/dev/null || fail "make-seed.sh failed"

# passt drops to `nobody` when started as root: its socket directory must be writable by nobody.
chmod 0711 "$tmp"
mkdir "$tmp/passt"
chown nobody "$tmp/passt"
sock=$tmp/passt/passt.sock
# -f -1: foreground, and quit when QEMU disconnects; the forward listens on 127.0.0.1 only; no DNS
# server in the lease (the host's would be a real address). It logs to stderr, and also fails to
# reach a syslog that is not there (its -l log file is opened with too few rights to be of use).
passt -f -1 --no-map-gw --no-dhcp-dns -t "127.0.0.1/$port:22" -s "$sock" >"$tmp/passt.log" 2>&1 &
passt_pid=$!
deadline=$((SECONDS + 10))
until [ -S "$sock" ]; do
    alive "$passt_pid" || fail "passt exited before creating $sock"
    [ "$SECONDS" -lt "$deadline" ] || fail "passt created no socket at $sock within 10 s"
    sleep 0.05
done

t_start=$(now)
qemu-system-x86_64 -accel tcg -machine q35 -m 512 -smp 1 \
    -nodefaults -nographic -no-reboot \
    -kernel "$imagedir/$kernel_file" -initrd "$imagedir/initramfs.cpio.gz" \
    -append "console=ttyS0 quiet panic=-1" \
    -serial "file:$tmp/serial.log" \
    -drive "file=$tmp/seed.img,if=none,id=seed,format=raw,readonly=on" \
    -device virtio-blk-pci,drive=seed \
    -netdev "stream,id=n0,server=off,addr.type=unix,addr.path=$sock" \
    -device virtio-net-pci,netdev=n0,romfile= \
    -qmp "unix:$tmp/qmp.sock,server=on,wait=off" \
    </dev/null >"$tmp/qemu.log" 2>&1 &
qemu_pid=$!
log "booting $imagedir/$kernel_file under TCG (hostname nonce $nonce)"

# --- wait for the marker, then for SSH -----------------------------------------------------------
deadline=$((SECONDS + timeout_s))
until grep -q "^SOLSTICE-READY $nonce" "$tmp/serial.log" 2>/dev/null; do
    grep -q '^SOLSTICE-FAILED' "$tmp/serial.log" 2>/dev/null && fail "the guest init failed"
    alive "$qemu_pid" || fail "QEMU exited before the ready marker"
    [ "$SECONDS" -lt "$deadline" ] || fail "no SOLSTICE-READY $nonce on the serial console within $timeout_s s"
    sleep 0.1
done
t_marker=$(now)

until got=$(ssh_run runner hostname </dev/null 2>"$tmp/ssh.err"); do
    alive "$qemu_pid" || fail "QEMU exited while we waited for SSH"
    [ "$SECONDS" -lt "$deadline" ] || fail "SSH did not answer within $timeout_s s: $(tail -n 3 "$tmp/ssh.err")"
    sleep 0.2
done
t_ssh=$(now)
[ "$got" = "$nonce" ] || fail "hostname over SSH is '$got', the seed said '$nonce'"
log "hostname over SSH as runner: $got"

[ "$(ssh_run root id -u </dev/null)" = 0 ] || fail "the seed's key does not log in as root"
# Upload the way the orchestrator will (dropbear has no SFTP): a stream into `cat`.
head -c 1048576 /dev/urandom >"$tmp/payload"
ssh_run runner 'cat > /tmp/payload && sha256sum /tmp/payload' <"$tmp/payload" >"$tmp/payload.sum" \
    || fail "uploading 1 MiB over SSH failed"
[ "$(cut -d' ' -f1 "$tmp/payload.sum")" = "$(sha256sum <"$tmp/payload" | cut -d' ' -f1)" ] \
    || fail "the uploaded 1 MiB arrived altered"
log "root login and a 1 MiB upload through 'cat' work ($client)"

if [ -n "$agent" ]; then
    t_up=$(now)
    ssh_run runner 'cat > /tmp/agent && chmod +x /tmp/agent' <"$agent" || fail "uploading $agent failed"
    t_upped=$(now)
    ssh_run runner '/tmp/agent --help' </dev/null >"$tmp/agent.out" 2>&1 \
        || fail "$agent --help failed in the guest: $(head -c 500 "$tmp/agent.out")"
    log "agent $(basename "$agent") ($(($(stat -c %s "$agent") / 1048576)) MiB) uploaded in" \
        "$(since "$t_up" "$t_upped") s and runs in the guest"
fi

# --- power off -----------------------------------------------------------------------------------
t_off=$(now)
case "$poweroff_mode" in
    acpi)
        python3 - "$tmp/qmp.sock" <<'EOF' || fail "QMP system_powerdown failed"
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()  # greeting
for cmd in ("qmp_capabilities", "system_powerdown"):
    f.write(json.dumps({"execute": cmd}) + "\n"); f.flush()
    while True:
        reply = json.loads(f.readline())
        if "return" in reply or "error" in reply:
            break
    if "error" in reply:
        sys.exit("%s: %s" % (cmd, reply["error"]))
EOF
        ;;
    ssh) ssh_run root poweroff </dev/null || true ;;
esac
deadline=$((SECONDS + 30))
while alive "$qemu_pid"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "QEMU still runs 30 s after the $poweroff_mode power-off"
    sleep 0.1
done
t_down=$(now)
wait "$qemu_pid" || fail "QEMU exited with status $?"
qemu_pid=
deadline=$((SECONDS + 10))
while alive "$passt_pid"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "passt still runs 10 s after QEMU exited"
    sleep 0.05
done
passt_pid=
grep -q 'solstice-init: powering off' "$tmp/serial.log" || fail "the guest did not log its power-off"

# Any process still naming our temp dir (QEMU, passt, an SSH client) is a leak.
# (pgrep leaves itself out, which a grep through /proc/*/cmdline would not.)
left=$(pgrep -f -- "$tmp" || true)
[ -z "$left" ] || fail "processes left behind: $(echo "$left" | paste -sd' ' -)"

log "PASS: linux-test ($kernel_file) boots, answers SSH with the seed's key and powers off" \
    "(TCG, q35, 512 MB, 1 CPU; load average $(cut -d' ' -f1-3 /proc/loadavg))"
printf '  QEMU start -> SOLSTICE-READY on serial  %5s s\n' "$(since "$t_start" "$t_marker")" >&2
printf '  QEMU start -> SSH answered (hostname)   %5s s\n' "$(since "$t_start" "$t_ssh")" >&2
printf '  %-4s power-off -> QEMU exited          %5s s\n' "$poweroff_mode" "$(since "$t_off" "$t_down")" >&2
