# syntax=docker/dockerfile:1
# Builds a static (musl) stateless-operator binary for the platform Docker asks for (linux/amd64 or
# linux/arm64: `docker build .` builds for the machine's own, `--platform` for another) and ships it on
# distroless/static as the non-root user.

# Same toolchain as local development; the crate needs >= 1.89 (rust-version).
ARG RUST_VERSION=1.95
# The builder runs on the build machine's own platform and cross-compiles when the target differs, so an
# image for the other architecture builds at native speed instead of under emulation.
FROM --platform=$BUILDPLATFORM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
# Set by BuildKit (required: the cache mounts below need it anyway): the architectures of this builder
# and of the image being built, in Docker's names (amd64, arm64).
ARG BUILDARCH
ARG TARGETARCH
# Picks the Rust target and a C toolchain for it (ring, under rustls, compiles C and assembly) and writes
# them to /build-env for the build step. Packages are not version-pinned: the bookworm base pins the
# Debian release, and exact package versions disappear from the mirrors after security updates.
# hadolint ignore=DL3008
RUN <<'EOF'
set -eu
case "$TARGETARCH" in
  amd64) target=x86_64-unknown-linux-musl; triplet=x86_64-linux-musl ;;
  arm64) target=aarch64-unknown-linux-musl; triplet=aarch64-linux-musl ;;
  *) echo "cannot build for TARGETARCH='$TARGETARCH': use --platform linux/amd64 or linux/arm64 (with BuildKit)" >&2; exit 1 ;;
esac
cc_target=$(echo "$target" | tr '-' '_')
cargo_target=$(echo "$cc_target" | tr 'a-z' 'A-Z')
echo "export RUST_TARGET=$target" > /build-env
if [ "$TARGETARCH" = "$BUILDARCH" ]; then
  # Native: musl-gcc, which cc-rs does not find on its own under the name Debian uses. Rust links
  # with the musl C library it ships for the target.
  apt-get update
  apt-get install -y --no-install-recommends musl-tools
  echo "export CC_$cc_target=musl-gcc" >> /build-env
else
  # Cross: clang compiles for any target. ring needs no C headers for aarch64 musl (it builds
  # freestanding there); for x86_64 its intrinsics headers want the target's libc headers, which
  # Debian's musl-dev of that architecture provides. rust-lld links against Rust's own musl.
  if [ "$TARGETARCH" = amd64 ]; then
    dpkg --add-architecture amd64
  fi
  apt-get update
  apt-get install -y --no-install-recommends clang llvm
  if [ "$TARGETARCH" = amd64 ]; then
    apt-get install -y --no-install-recommends musl-dev:amd64
    echo "export CFLAGS_$cc_target='-nostdlibinc -isystem /usr/include/$triplet'" >> /build-env
  fi
  echo "export CC_$cc_target=clang AR_$cc_target=llvm-ar" >> /build-env
  echo "export CARGO_TARGET_${cargo_target}_RUSTFLAGS='-Clink-self-contained=yes -Clinker=rust-lld'" >> /build-env
fi
rm -rf /var/lib/apt/lists/*
rustup target add "$target"
EOF
WORKDIR /src
COPY . .
# The release profile in Cargo.toml strips symbols and uses LTO (a ~14 MB static binary). Cache mounts
# keep the registry and target dir between builds; the binary is copied out of the cached target dir
# because cache mounts are not part of the image layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    . /build-env \
 && cargo build --release --locked --target "$RUST_TARGET" \
 && install -D -m 0755 "target/$RUST_TARGET/release/stateless-operator" /out/stateless-operator

# A multi-platform base: Docker picks the variant of the target platform.
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
