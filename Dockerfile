# The image of Solstice's binaries: orchestrator, forgejo-runner, github-runner, solstice, and
# the agent (workflow-runner) beside them, where the orchestrator looks for it first. compose.yml
# runs one binary per service from it.
#
#   docker build -t solstice-ci:local .

# --- build -------------------------------------------------------------------------------------
# Debian 12 (bookworm), as at runtime, so the agent links against the glibc the guests of
# `linux-test` get from a bookworm host, and the binaries against the runtime's.
FROM rust:1-bookworm AS build
WORKDIR /src
# The whole workspace: cargo needs every member's manifest (tests/ included) to resolve it, the
# forgejo crate compiles proto/ at build time, and vm embeds images/catalog.toml.
COPY . .
# --locked: exactly the dependency versions of Cargo.lock. The cache mounts keep the registry
# and the target directory between builds of the same machine.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
        -p orchestrator-daemon -p forgejo-runner -p github-runner -p solstice -p workflow-runner \
    && mkdir -p /out \
    && for bin in orchestrator forgejo-runner github-runner solstice workflow-runner; do \
         cp "target/release/$bin" /out/; \
       done

# --- runtime -----------------------------------------------------------------------------------
FROM debian:bookworm-slim
# What the qemu executor runs (crates/vm/src/tools.rs): QEMU and qemu-img, passt for the guest's
# network, ip and nft for the per-VM namespace, mkfs.vfat and mcopy for the NoCloud seed; gzip
# (in the base) and strip (binutils) for the agent's compressed upload; CA certificates for the
# forge clients and image pulls; curl for the healthchecks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        qemu-system-x86 qemu-utils passt iproute2 nftables dosfstools mtools \
        binutils ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /usr/local/bin/
# The runners need no privilege and run as `solstice`; the state dir belongs to it, and a named
# volume mounted there starts with that owner and mode. The orchestrator runs as root
# (compose.yml says why): it creates a network namespace per VM. Mode 0711, not 0700: the
# orchestrator's passt drops to `nobody` and must traverse the state dir to its socket directory;
# the files that hold secrets (.runner, keys) are 0600 themselves.
RUN useradd --system --home-dir /var/lib/solstice --shell /usr/sbin/nologin solstice \
    && install -d -m 0711 -o solstice -g solstice /var/lib/solstice
ENV SOLSTICE_STATE_DIR=/var/lib/solstice
USER solstice
# /metrics and /healthz when SOLSTICE_METRICS_ADDR is set.
EXPOSE 9464
CMD ["solstice", "--help"]
