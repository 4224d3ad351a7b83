# Multi-stage build: compile in the Rust image, run as an unprivileged user in a slim Debian.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY migrations migrations
# Compiled into the binary: the OpenAPI document and the dashboard.
COPY schema schema
COPY web web
COPY config config
COPY conformance/bench conformance/bench
RUN cargo build --release --locked --bin labelbook

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin labelbook \
    && mkdir -p /data && chown labelbook /data
COPY --from=build /src/target/release/labelbook /usr/local/bin/labelbook
USER labelbook
VOLUME /data
ENV LABELBOOK_DATA=/data LABELBOOK_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q ok <&3"]
ENTRYPOINT ["labelbook"]
CMD ["serve"]
