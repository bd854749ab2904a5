# syntax=docker/dockerfile:1
#
# TwisterLab Ops Portal image: one static-enough binary on debian:bookworm-slim.
# Templates, static files and SQL migrations are embedded in the binary, so the
# runtime stage needs nothing but the binary and the CA bundle.
#
#   docker build -t twisterlab-portal:latest .
#   docker run --rm -e DATABASE_URL=postgres://… -p 127.0.0.1:8080:8080 twisterlab-portal:latest
#
# Needs BuildKit (the default builder since Docker 23) for the cache mount below.

########################################################################
# Builder
########################################################################
FROM rust:1.95-bookworm AS builder

WORKDIR /build

# sqlx query macros read the committed .sqlx/ metadata: no database at build time.
ENV SQLX_OFFLINE=true \
    CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0

# 1. Manifests first: downloading crates is cached until a manifest or the lock
#    file changes. cargo refuses to load a package without a target, hence the
#    empty lib.rs stubs, which are removed again so they never reach the build.
#    A new workspace member needs its Cargo.toml listed here.
COPY Cargo.toml Cargo.lock ./
COPY crates/domain/Cargo.toml crates/domain/Cargo.toml
COPY crates/k8s-adapter/Cargo.toml crates/k8s-adapter/Cargo.toml
COPY crates/demo-target/Cargo.toml crates/demo-target/Cargo.toml
COPY crates/server/Cargo.toml crates/server/Cargo.toml
RUN for crate in crates/*/; do mkdir -p "${crate}src" && touch "${crate}src/lib.rs"; done \
 && cargo fetch --locked \
 && rm -rf crates/*/src

# 2. The sources (see .dockerignore), then the release build. target/ lives in a
#    cache mount so a rebuild after a source change only recompiles our crates;
#    the binary is copied out of the mount in the same step.
COPY . .
RUN --mount=type=cache,id=twisterlab-portal-target,target=/build/target,sharing=locked \
    cargo build --release --locked -p twisterlab-server \
 && install -D -m 0755 target/release/twisterlab-portal /out/twisterlab-portal

########################################################################
# Runtime
########################################################################
FROM debian:bookworm-slim AS runtime

# ca-certificates: outbound TLS (Slack, PagerDuty, webhooks, the Kubernetes API
# and PostgreSQL with sslmode=verify-full). Time zones are bundled in the binary.
# The service user has no home and no login shell; /var/lib/twisterlab is the
# data directory (only used for a private PostgreSQL, which containers never run).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 twisterlab \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin twisterlab \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/twisterlab

COPY --from=builder /out/twisterlab-portal /usr/local/bin/twisterlab-portal

LABEL org.opencontainers.image.title="TwisterLab Ops Portal" \
      org.opencontainers.image.description="Incident management, runbooks and public status page for TwisterLab" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV TWISTERLAB_BIND=0.0.0.0:8080 \
    TWISTERLAB_LOG_FORMAT=json \
    TWISTERLAB_DATA_DIR=/var/lib/twisterlab

EXPOSE 8080

# No HEALTHCHECK: a health check runs inside the container, and the image has no
# curl (nor any HTTP client) to call /livez with. Kubernetes probes /livez and
# /readyz from the kubelet instead; under compose, watch `docker compose logs`.

USER 10001:10001

ENTRYPOINT ["/usr/local/bin/twisterlab-portal"]
CMD ["serve"]
