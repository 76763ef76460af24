# syntax=docker/dockerfile:1
# The action's image: a static binary on an empty base.
# Stage "build" compiles with cargo-chef so dependency layers are cached; the final stage holds only the
# binary and CA certificates. The `demo` feature (the simulator) is left out.

FROM rust:1-alpine AS chef
RUN apk add --no-cache musl-dev ca-certificates && cargo install cargo-chef --locked --version 0.1.71
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --no-default-features --recipe-path recipe.json
COPY . .
RUN cargo build --release --no-default-features --locked --bin dune-pipeline-action \
    && mkdir -p /out \
    && cp target/release/dune-pipeline-action /out/dune-pipeline-action

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/dune-pipeline-action /dune-pipeline-action
ENTRYPOINT ["/dune-pipeline-action"]
