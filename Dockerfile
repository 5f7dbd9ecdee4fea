# Weir's playground image: the `weir` binary (also installed as `flink`) and the Click Event
# Count job component at the path the playground's client uses, /opt/ClickCountJob.jar.
#
# The build stage runs the README's build command: rust-toolchain.toml names the toolchain, and
# the host's build script adds the wasm32-wasip2 target with rustup when the image lacks it (the
# rust image's toolchain comes without it) and compiles the guest jobs.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/weir /usr/local/bin/weir
RUN ln -s /usr/local/bin/weir /usr/local/bin/flink
COPY --from=build /src/target/guest-jobs/wasm32-wasip2/release/click_event_count.wasm /opt/ClickCountJob.jar
# The hot-swap upgrade demo's components (README, "Hot-swap upgrade").
COPY --from=build /src/target/guest-jobs/wasm32-wasip2/release/click_event_count_v1_1.wasm \
     /src/target/guest-jobs/wasm32-wasip2/release/click_event_count_v2.wasm \
     /src/target/guest-jobs/wasm32-wasip2/release/click_event_count_faulty.wasm /opt/
WORKDIR /opt/weir
ENV WEIR_CACHE_DIR=/tmp/weir-cache
EXPOSE 8081 6123
CMD ["weir", "--help"]
