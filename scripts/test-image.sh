#!/usr/bin/env bash
# Prints the directory of the offline test image `linux-test` in the state dir `solstice run`
# uses (SOLSTICE_STATE_DIR; else /var/lib/solstice as root, $XDG_STATE_HOME/solstice otherwise),
# building it there first with images/build-test-image.sh (as root, through sudo when needed)
# when it is absent. `scripts/test-image.sh /some/dir` uses that directory instead.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${1:-}" ]; then
    dir=$1
elif [ -n "${SOLSTICE_STATE_DIR:-}" ]; then
    dir=$SOLSTICE_STATE_DIR/images/linux-test
elif [ "$(id -u)" -eq 0 ]; then
    dir=/var/lib/solstice/images/linux-test
else
    dir=${XDG_STATE_HOME:-$HOME/.local/state}/solstice/images/linux-test
fi

# Built from this checkout's recipe? An image left by an older checkout (CI keeps the state dir
# between runs) is rebuilt when the scripts that make it changed.
recipe=$(images/recipe-hash.sh)
built_recipe=$(sed -n 's/^recipe = "\(.*\)"$/\1/p' "$dir/build-info.toml" 2>/dev/null || true)
if [ ! -f "$dir/initramfs.cpio.gz" ] || [ ! -f "$dir/vmlinuz" ] || [ "$built_recipe" != "$recipe" ]; then
    printf 'test-image: building linux-test into %s\n' "$dir" >&2
    if [ "$(id -u)" -eq 0 ]; then
        images/build-test-image.sh "$dir" >&2
    elif command -v sudo >/dev/null; then
        sudo images/build-test-image.sh "$dir" >&2
    else
        printf 'test-image: building the image needs root (run: images/build-test-image.sh %s as root)\n' "$dir" >&2
        exit 3
    fi
fi
# linux-test-agentless (catalog) boots the same files; it is a link so the two never drift apart.
if [ "$(basename "$dir")" = linux-test ] && [ ! -e "$(dirname "$dir")/linux-test-agentless" ]; then
    ln -s linux-test "$(dirname "$dir")/linux-test-agentless" 2>/dev/null || true
fi
printf '%s\n' "$dir"
