# syntax=docker/dockerfile:1
# The dockhand runtime image: the release binary on Debian slim with git (git subscriptions in
# files mode) and CA certificates (registries, git hosts, the Kubernetes API), run as the non-root
# user 65532 that deploy/kubernetes expects. Build: docker build -t dockhand:0.1.0 .

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The registry and target caches only speed up rebuilds; the binary is copied out of the cache
# mount in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin dockhand \
    && install -m 0755 target/release/dockhand /usr/local/bin/dockhand

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 65532 dockhand \
    && useradd --uid 65532 --gid 65532 --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin dockhand \
    && mkdir -p /data \
    && chown 65532:65532 /data
COPY --from=build /usr/local/bin/dockhand /usr/local/bin/dockhand
USER 65532:65532
WORKDIR /data
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/dockhand"]
CMD ["--help"]
