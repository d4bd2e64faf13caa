# One image with both binaries: `marquee` (control plane and runtimes) and `marquee-operator`.
# Documented and used by cluster/deploy; not built on the development machines (no Docker
# engine there). Build from the repository root: docker build -t marquee:dev .

FROM node:20-bookworm AS console
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM rust:1.95-bookworm AS build
RUN rustup target add wasm32-wasip2
WORKDIR /src
COPY . .
# The built-in components are compiled for wasm32-wasip2 by runtime/build.rs.
RUN cargo build --release --locked -p marquee -p marquee-operator

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/marquee /src/target/release/marquee-operator /usr/local/bin/
COPY --from=console /src/web/dist /usr/share/marquee/console
ENV MARQUEE_CONSOLE_DIR=/usr/share/marquee/console \
    MARQUEE_LISTEN=0.0.0.0:8080 \
    MARQUEE_DATA_DIR=/var/lib/marquee
# The numeric user the manifests' runAsNonRoot expects.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["marquee"]
