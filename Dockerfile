# Image of the karton-pcap-miner Karton service: `docker build -t karton-pcap-miner .`
# Configure it with KARTON_* environment variables or a karton.ini mounted at
# /etc/karton/karton.ini (see README.md, "Running the Karton service").

# Build stage: the pcap_miner wheel (Rust, maturin) and the service's wheel.
FROM rust:1.95-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/build \
    && /opt/build/bin/pip install --no-cache-dir "maturin>=1.9,<2" "setuptools>=77" wheel
WORKDIR /src
COPY . .
RUN cd python/pcap-miner \
    && /opt/build/bin/maturin build --release --locked --interpreter /opt/build/bin/python -o /wheels \
    && /opt/build/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation -w /wheels /src/python/karton-pcap-miner

# Runtime stage: Python with the two wheels and their dependencies from PyPI, without Rust or tshark.
FROM python:3.11-slim-bookworm
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-cache-dir /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels \
    && useradd --system --create-home --home-dir /home/karton karton
USER karton
WORKDIR /home/karton
ENTRYPOINT ["karton-pcap-miner"]
