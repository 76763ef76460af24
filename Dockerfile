# syntax=docker/dockerfile:1
# The action's image: one static binary (plus CA certificates) on an empty base, pulled prebuilt by the runner.
#
# Stages:
#   chef    Rust on Alpine (musl) with cargo-chef.
#   planner the dependency recipe of the workspace.
#   build   dependencies first (a cached layer while Cargo.lock is unchanged), then the binary. It leaves the
#           image's whole filesystem in /out: the binary, the post-step symlink, the CA certificates.
#   action  (final) `scratch` + /out. It reads nothing but `build`'s /out, so a build machine that cannot pull
#           base images feeds it a prebuilt /out instead (`--build-context build=DIR`, as .ci/container-local does).
#
# The binary is built for the build machine's own architecture (`<arch>-unknown-linux-musl`, fully static):
# the release workflow builds amd64 and arm64 on native runners. The `demo` feature (the simulator) is left out.
# No USER and no WORKDIR in the final stage: GitHub runs action containers as root with
# `--workdir /github/workspace`.

FROM rust:1.95-alpine AS chef
# hadolint ignore=DL3018
RUN apk add --no-cache musl-dev ca-certificates \
    && cargo install cargo-chef --locked --version 0.1.71
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
# The same flags as .ci/run's static build (crt-static is musl's default; stated for the record).
ENV RUSTFLAGS="-C target-feature=+crt-static"
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --no-default-features --locked \
        --target "$(uname -m)-unknown-linux-musl" --recipe-path recipe.json
COPY . .
RUN target="$(uname -m)-unknown-linux-musl" \
    && cargo build --release --no-default-features --locked --target "$target" --bin dune-pipeline-action \
    && mkdir -p /out/etc/ssl/certs \
    && cp "target/$target/release/dune-pipeline-action" /out/dune-pipeline-action \
    && ln -s dune-pipeline-action /out/dune-pipeline-action-post \
    && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ca-certificates.crt

FROM scratch AS action
COPY --from=build /out/ /
ENTRYPOINT ["/dune-pipeline-action"]
