# syntax=docker/dockerfile:1
# Builds a static (musl) stateless-operator binary and ships it on distroless/static as the non-root user.

# Same toolchain as local development; the crate needs >= 1.89 (rust-version).
ARG RUST_VERSION=1.95
FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
# musl-tools provides musl-gcc: ring (rustls) compiles C/assembly, and cc-rs does not find a musl C
# compiler on its own under the name Debian uses. Not version-pinned: the bookworm base pins the
# Debian release, and exact package versions disappear from the mirrors after security updates.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
# The release profile in Cargo.toml strips symbols and uses LTO (a ~14 MB static binary).
ENV CC_x86_64_unknown_linux_musl=musl-gcc
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target dir between builds; the binary is copied out of the
# cached target dir because cache mounts are not part of the image layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --target x86_64-unknown-linux-musl \
 && install -D -m 0755 target/x86_64-unknown-linux-musl/release/stateless-operator /out/stateless-operator

FROM gcr.io/distroless/static:nonroot
LABEL org.opencontainers.image.title="stateless-operator" \
      org.opencontainers.image.description="Kubernetes operator for StatelessService resources" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/stateless-operator /usr/local/bin/stateless-operator
# distroless "nonroot" (65532). Numeric so the kubelet can verify runAsNonRoot even if a pod spec
# does not set runAsUser.
USER 65532:65532
# /healthz, /readyz and /metrics (--metrics-addr default).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/stateless-operator"]
CMD ["run"]
