# A production-like image: build in one stage, run the binary alone in another.
# The image talks to an external PostgreSQL through DATABASE_URL (see
# docker-compose.yml); it does not run the embedded one.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p safepref-server

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/safepref --create-home safepref
COPY --from=build /src/target/release/safepref /usr/local/bin/safepref
USER safepref
WORKDIR /var/lib/safepref
ENV SAFEPREF_BIND=0.0.0.0:8080
EXPOSE 8080
# bash (not sh, which is dash here) has /dev/tcp; the image needs no curl.
HEALTHCHECK --interval=10s --timeout=3s CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["safepref"]
CMD ["serve"]
