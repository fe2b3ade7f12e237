# syntax=docker/dockerfile:1
# checkout-gateway: a release build in a throw-away builder, a small non-root runtime image.
#   docker build -t checkout-gateway .
# The binary carries everything it needs: config/base.toml and config/{local,production}.toml
# are compiled in (include_str!) and the migrations are embedded (sqlx::migrate!), so the
# runtime image holds the binary and CA certificates only.

# Keep in step with ci/rust-version, the toolchain CI checks (.ci/run).
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm
# Cargo features on top of the gateway: none for production; docker-compose.yml builds its
# local stack with `dev-tools` (the standalone sandbox it runs as a service, `token`).
ARG CARGO_FEATURES=""

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder
ARG CARGO_FEATURES
# aws-lc-sys (TLS, JWT) builds C code; cmake is its fallback build system.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build

# Dependency layer: only the manifests and placeholder sources, so this (slow) layer is rebuilt
# when Cargo.toml/Cargo.lock change, not on every source edit.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked --no-default-features --features "$CARGO_FEATURES" \
 && rm -rf src

# The real sources. config/ and migrations/ are read at compile time.
COPY src ./src
COPY config ./config
COPY migrations ./migrations
# The placeholder build left newer artefacts for the crate itself: make sure it is rebuilt.
# --no-default-features: the gateway only, without the development tools (src/tools: demo,
# bench, soak, fuzz entry points, the standalone sandbox and dev-token commands), unless
# CARGO_FEATURES adds them.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --no-default-features --features "$CARGO_FEATURES" \
 && install -D target/release/checkout-gateway /out/checkout-gateway

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 gateway \
 && useradd --system --uid 10001 --gid gateway --home-dir /app --no-create-home gateway
COPY --from=builder /out/checkout-gateway /usr/local/bin/checkout-gateway
WORKDIR /app
USER 10001:10001

# Production profile: refuses dev secrets, SQLite and the in-process sandbox, so the
# deployment must supply APP__DATABASE__URL, APP__UPSTREAM__BASE_URL/APIKEY,
# APP__AUTH__JWT_HS256_SECRET (or _RS256_PUBLIC_KEY_PEM), APP__AUTH__JWT_ISSUER,
# APP__AUTH__JWT_AUDIENCE and APP__SECURITY__SOURCE_ACCOUNT_KEY (secrets: 32+ bytes).
# Both listeners bind every interface inside the container (the defaults are loopback); the
# admin one is logged as a warning at start: keep its port to operators and monitoring.
ENV APP_ENV=production \
    APP__HTTP__LISTEN=0.0.0.0:8080 \
    APP__ADMIN__LISTEN=0.0.0.0:9090
# 8080: public API (/healthz, /readyz, /v1/…); 9090: admin (/metrics, /admin/*).
EXPOSE 8080 9090
# Graceful stop: SIGTERM hands checkouts back (leases released; up to 25 s, SHUTDOWN_GRACE in
# src/startup/mod.rs), then drains in-flight requests (up to 25 s more).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/checkout-gateway"]
CMD ["serve"]
