#!/usr/bin/env bash
# Prints one SHA-256 over everything that decides what images/build-test-image.sh makes (the
# scripts, the guest's init and DHCP script) and the kernel it would take, so a caller can tell
# whether an image on disk was built from this checkout's recipe (scripts/test-image.sh).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
{
    cd "$here"
    sha256sum build-test-image.sh common.sh initramfs/*
    # The kernels the build could pick (it takes the newest with modules, or SOLSTICE_KERNEL_VERSION).
    echo "${SOLSTICE_KERNEL_VERSION:-}"
    find /boot -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' 2>/dev/null | LC_ALL=C sort
} | sha256sum | cut -d' ' -f1
