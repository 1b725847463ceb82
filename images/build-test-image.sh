#!/usr/bin/env bash
# Builds the offline test image `linux-test` from Debian packages only: the installed Debian kernel
# (`vmlinuz`, plus `vmlinux`, the same kernel uncompressed for QEMU's faster PVH boot) and a small
# initramfs (`initramfs.cpio.gz`) holding busybox, dropbear, the glibc our agent links against,
# the virtio/FAT/ISO kernel modules and the /init of images/initramfs/. Nothing is downloaded but
# Debian packages, and only those that are missing.
#
#   images/build-test-image.sh [OUTDIR]
#
# OUTDIR defaults to ${SOLSTICE_STATE_DIR:-/var/lib/solstice}/images/linux-test. The kernel is the
# newest /boot/vmlinuz-* that has its modules installed; SOLSTICE_KERNEL_VERSION picks another.
# Running it again rebuilds the files and replaces them atomically; the same inputs give the same
# bytes. Exit codes: 0 built, 1 failed, 2 usage, 3 a dependency cannot be installed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/common.sh
. "$here/common.sh"

case "${1:-}" in
    -h | --help) sed -n '2,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
esac
[ "$#" -le 1 ] || die 2 "usage: $0 [OUTDIR]"
outdir=${1:-${SOLSTICE_STATE_DIR:-/var/lib/solstice}/images/linux-test}

# Modules in load order (busybox insmod resolves no dependency): virtio transport, network and
# block drivers, then FAT with the charsets a vfat mount asks for (without nls_ascii it fails with
# "IO charset ascii not found"), and isofs for ISO seeds. Missing dependencies found in
# modules.dep are added before the module that needs them.
required_modules=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
    failover net_failover virtio_net virtio_blk
    fat vfat nls_cp437 nls_ascii nls_utf8 nls_iso8859_1 isofs)
# The ACPI power button reaches /init through an evdev node; without them the guest still powers
# off over SSH (`poweroff`), just not from QEMU's `system_powerdown`.
optional_modules=(button evdev)

# Shared libraries an agent built for x86_64-unknown-linux-gnu may load (Rust's std links these).
agent_libs=(libc.so.6 libm.so.6 libgcc_s.so.1 libpthread.so.0 libdl.so.2 librt.so.1 libutil.so.1)

ensure_packages linux-image-amd64 busybox-static dropbear-bin cpio dosfstools mtools \
    qemu-system-x86 qemu-utils passt

# --- the kernel --------------------------------------------------------------------------------
pick_kernel() {
    local v
    if [ -n "${SOLSTICE_KERNEL_VERSION:-}" ]; then
        echo "$SOLSTICE_KERNEL_VERSION"
        return
    fi
    for v in $(find /boot -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -rV); do
        if [ -f "/lib/modules/$v/modules.dep" ]; then
            echo "$v"
            return
        fi
    done
}
kver=$(pick_kernel)
[ -n "$kver" ] || die 3 "no /boot/vmlinuz-* with modules under /lib/modules (is linux-image-amd64 installed?)"
kernel=/boot/vmlinuz-$kver
moddir=/lib/modules/$kver
[ -r "$kernel" ] || die 1 "cannot read $kernel (root is needed: Debian installs it mode 0600)"
[ -f "$moddir/modules.dep" ] || die 1 "no $moddir/modules.dep for kernel $kver"
log "kernel $kver"

# The same kernel as an uncompressed ELF, for QEMU's PVH entry (`-kernel vmlinux`): it skips
# SeaBIOS's real-mode setup and the in-guest decompression of the xz payload, which under TCG
# halves the time to /init (measured: 4.4–5.2 s instead of 9.9–12.7 s). The payload's place is in
# the bzImage header (boot protocol 2.08+); the last 4 bytes of it are the decompressed size.
# Prints nothing and returns 1 when the kernel has no PVH entry or an unknown compression.
extract_vmlinux() { # bzImage out
    local img=$1 out=$2 setup_sects pm_start off len want magic
    grep -qx 'CONFIG_PVH=y' "/boot/config-$kver" 2>/dev/null || return 1
    u() { od -An -t "u$2" -j "$1" -N "$2" "$img" | tr -d ' '; }
    [ "$(dd if="$img" bs=1 skip=514 count=4 2>/dev/null)" = HdrS ] || return 1
    [ "$(u 518 2)" -ge $((0x0208)) ] || return 1
    setup_sects=$(u 497 1)
    [ "$setup_sects" -ne 0 ] || setup_sects=4
    pm_start=$(((setup_sects + 1) * 512))
    off=$((pm_start + $(u 584 4)))
    len=$(u 588 4)
    want=$(u $((off + len - 4)) 4)
    magic=$(od -An -t x1 -j "$off" -N 4 "$img" | tr -d ' ')
    payload() { dd if="$img" bs=64K iflag=skip_bytes,count_bytes skip="$off" count=$((len - 4)) status=none; }
    case "$magic" in
        fd377a58) payload | xz -dc >"$out" ;;
        28b52ffd) payload | zstd -dcq >"$out" ;;
        1f8b08*) payload | gzip -dc >"$out" ;;
        *) return 1 ;;
    esac || return 1
    [ "$(stat -c %s "$out")" = "$want" ] && [ "$(od -An -c -N 4 "$out" | tr -d ' ')" = '177ELF' ]
}

work=$(mktemp -d "${TMPDIR:-/tmp}/solstice-test-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/dropbear,proc,sys,dev,tmp,run,mnt/seed,root,home/runner,lib/modules,usr/share/udhcpc,var/log}

# --- modules, in dependency order ----------------------------------------------------------------
# modules.dep maps "kernel/…/name.ko[.xz|.zst|.gz]: dep dep …"; names compare with '-' as '_'.
declare -A mod_path=() mod_deps=() mod_builtin=() mod_added=()
mod_name() { local b=${1##*/}; b=${b%%.ko*}; echo "${b//-/_}"; }
while IFS= read -r line; do
    path=${line%%:*}
    deps=${line#*:}
    n=$(mod_name "$path")
    mod_path[$n]=$path
    mod_deps[$n]=$deps
done <"$moddir/modules.dep"
if [ -f "$moddir/modules.builtin" ]; then
    while IFS= read -r path; do mod_builtin[$(mod_name "$path")]=1; done <"$moddir/modules.builtin"
fi

load_order=()
add_module() { # name: its dependencies first, then itself; built-in modules need nothing
    local n=$1 d
    [ -z "${mod_added[$n]:-}" ] || return 0
    mod_added[$n]=1
    [ -z "${mod_builtin[$n]:-}" ] || return 0
    for d in ${mod_deps[$n]}; do add_module "$(mod_name "$d")"; done
    load_order+=("$n")
}
for m in "${required_modules[@]}"; do
    [ -n "${mod_path[$m]:-}" ] || [ -n "${mod_builtin[$m]:-}" ] \
        || die 1 "kernel $kver has no module $m (looked in $moddir/modules.dep and modules.builtin)"
    add_module "$m"
done
for m in "${optional_modules[@]}"; do
    if [ -n "${mod_path[$m]:-}" ] || [ -n "${mod_builtin[$m]:-}" ]; then
        add_module "$m"
    else
        log "warning: kernel $kver has no module $m; the ACPI power button will not power the guest off"
    fi
done

: >"$root/lib/modules/load-order"
for n in "${load_order[@]}"; do
    src=$moddir/${mod_path[$n]}
    base=${src##*/}
    case "$src" in
        *.ko) cp "$src" "$root/lib/modules/$base" ;;
        *.ko.xz) xz -dc "$src" >"$root/lib/modules/${base%.xz}" ;;
        *.ko.zst) command -v zstd >/dev/null || ensure_packages zstd
                  zstd -dcq "$src" >"$root/lib/modules/${base%.zst}" ;;
        *.ko.gz) gzip -dc "$src" >"$root/lib/modules/${base%.gz}" ;;
        *) die 1 "unknown module file type: $src" ;;
    esac
    echo "${base%%.ko*}.ko" >>"$root/lib/modules/load-order"
done
log "modules: $(tr '\n' ' ' <"$root/lib/modules/load-order")"

# --- busybox -------------------------------------------------------------------------------------
# No early-exiting reader (grep -m1, awk exit, head) on a pipe in this script: under pipefail the
# writer's SIGPIPE fails the whole command at random, and set -e then ends the script silently.
package_file() { # package regex: the first file of the package matching regex
    local files
    files=$(dpkg -L "$1") || return 1
    grep -E "$2" <<<"$files" | sed -n 1p
}
busybox=$(package_file busybox-static '/busybox$')
[ -n "$busybox" ] || die 1 "busybox-static lists no busybox binary"
if ldd "$busybox" >/dev/null 2>&1; then die 1 "$busybox is dynamically linked; busybox-static expected"; fi
cp "$busybox" "$root/bin/busybox"
# Absolute links, one per applet, where the applet wants to live; the busybox itself stays put.
"$root/bin/busybox" --list-full | while IFS= read -r applet; do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$root/$(dirname "$applet")"
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
[ -e "$root/bin/sh" ] || die 1 "busybox has no sh applet"

# --- dropbear, its libraries and the agent's glibc -----------------------------------------------
# Copies a file to the same path inside the image, following links so the image holds real files.
copy_in() { mkdir -p "$root$(dirname "$1")"; cp -L "$1" "$root$1"; }
# The libraries and the program interpreter (glibc's loader) a dynamic binary needs, from ldd.
ldd_paths() {
    ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3; next } $1 ~ /^\// { print $1 }'
}
dropbear=$(package_file dropbear-bin '/sbin/dropbear$')
[ -n "$dropbear" ] || die 1 "dropbear-bin lists no dropbear binary"
copy_in "$dropbear"
for lib in $(ldd_paths "$dropbear"); do copy_in "$lib"; done
[ "$dropbear" = /usr/sbin/dropbear ] || ln -sf "$dropbear" "$root/usr/sbin/dropbear"

# The agent's libraries, where ldconfig says they are (they sit beside dropbear's libc).
ld_cache=$(ldconfig -p)
for name in "${agent_libs[@]}"; do
    path=$(awk -v n="$name" '$1 == n && /x86-64/ && !found { print $NF; found = 1 }' <<<"$ld_cache")
    if [ -n "$path" ]; then
        copy_in "$path"
    elif [ "$name" = libc.so.6 ] || [ "$name" = libm.so.6 ] || [ "$name" = libgcc_s.so.1 ]; then
        die 1 "ldconfig knows no $name"
    fi
done
# A loader cache for the image, so any library dir we copied into is searched.
ldconfig -r "$root" 2>/dev/null || true

# --- configuration and /init ---------------------------------------------------------------------
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
runner:x:1000:1000:CI runner:/home/runner:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
tty:x:5:
runner:x:1000:
nogroup:x:65534:
EOF
printf '/bin/sh\n/bin/ash\n' >"$root/etc/shells"
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
install -m 0755 "$here/initramfs/init" "$root/init"
install -m 0755 "$here/initramfs/udhcpc-default.script" "$root/usr/share/udhcpc/default.script"
chmod 0700 "$root/root" "$root/etc/dropbear"
chmod 1777 "$root/tmp"

# Prove the dynamic part works before booting anything: dropbear must find its loader and libs.
if [ "$(id -u)" -eq 0 ]; then
    chroot "$root" /usr/sbin/dropbear -V >/dev/null 2>&1 \
        || die 1 "dropbear does not run inside the image root (missing library?)"
fi

# --- pack and install ----------------------------------------------------------------------------
# Fixed timestamps, owners and order make the archive reproducible; /init chowns runner's home.
epoch=${SOURCE_DATE_EPOCH:-0}
find "$root" -exec touch -h -d "@$epoch" {} +
mkdir -p "$outdir"
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) \
    | gzip -9n >"$outdir/.initramfs.cpio.gz.tmp"
cp "$kernel" "$outdir/.vmlinuz.tmp"
chmod 0644 "$outdir/.initramfs.cpio.gz.tmp" "$outdir/.vmlinuz.tmp"
mv -f "$outdir/.initramfs.cpio.gz.tmp" "$outdir/initramfs.cpio.gz"
mv -f "$outdir/.vmlinuz.tmp" "$outdir/vmlinuz"
if extract_vmlinux "$kernel" "$outdir/.vmlinux.tmp"; then
    chmod 0644 "$outdir/.vmlinux.tmp"
    mv -f "$outdir/.vmlinux.tmp" "$outdir/vmlinux"
    pvh=vmlinux
else
    rm -f "$outdir/.vmlinux.tmp" "$outdir/vmlinux"
    log "warning: kernel $kver has no PVH entry or an unknown compression; no vmlinux (boot vmlinuz)"
    pvh=
fi

{
    echo "# linux-test image, written by images/build-test-image.sh"
    echo "kernel_version = \"$kver\""
    echo "busybox = \"$(dpkg-query -W -f='${Version}' busybox-static)\""
    echo "dropbear = \"$(dpkg-query -W -f='${Version}' dropbear-bin)\""
    echo "modules = [$(sed 's/.*/"&"/' "$root/lib/modules/load-order" | paste -sd, - | sed 's/,/, /g')]"
    echo "kernel_pvh = \"$pvh\""
    echo "recipe = \"$("$here/recipe-hash.sh")\""
    (cd "$outdir" && sha256sum vmlinuz ${pvh:+vmlinux} initramfs.cpio.gz) | awk '{ printf "sha256.\"%s\" = \"%s\"\n", $2, $1 }'
} >"$outdir/.build-info.toml.tmp"
mv -f "$outdir/.build-info.toml.tmp" "$outdir/build-info.toml"

for f in vmlinuz ${pvh:+vmlinux} initramfs.cpio.gz; do
    log "built $outdir/$f ($(stat -c %s "$outdir/$f") bytes)"
done
