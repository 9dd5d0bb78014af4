# syntax=docker/dockerfile:1
# realcheck: the three detectors on TorchServe 0.12, as a non-root container.
#
# CPU (default):
#   make models && docker build -t realcheck .
#   docker run --rm -p 127.0.0.1:8080:8080 realcheck
# GPU (NVIDIA container toolkit on the host; torch from PyPI carries its CUDA libraries):
#   docker build -t realcheck:gpu --build-arg BASE_IMAGE=nvidia/cuda:12.6.3-runtime-ubuntu24.04 \
#       --build-arg TORCH_INDEX_URL= .
#   docker run --rm --gpus 1 -e REALCHECK_NUMBER_OF_GPU=1 -p 127.0.0.1:8080:8080 realcheck:gpu
# Token authorisation is on; the key is in /home/model-server/run/key_file.json:
#   docker exec CONTAINER cat /home/model-server/run/key_file.json
# Turn it off only behind something else that authenticates: -e REALCHECK_DISABLE_TOKEN_AUTH=true
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

# Extra pip index for torch: CPU-only wheels by default (no CUDA libraries,
# a fraction of the size). Set it empty for PyPI's CUDA builds.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Java runs TorchServe's frontend. The python base has Python; a CUDA base has
# none, so it gets the distribution's python3 and venv. (man1 must exist for
# the JRE's alternatives on slim images.)
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless ca-certificates \
    && if ! command -v python3 >/dev/null; then \
           apt-get install -y --no-install-recommends python3 python3-venv; \
       fi \
    && rm -rf /var/lib/apt/lists/*

# A fixed UID (deploy/k8s runs as 10001 too).
RUN useradd --create-home --home-dir /home/model-server --uid 10001 --user-group \
        --shell /usr/sbin/nologin model-server

# The code is owned by root and read-only for the server; only run/ is writable.
WORKDIR /home/model-server/app
COPY pyproject.toml ./
COPY scripts/ scripts/
COPY realcheck/ realcheck/
COPY training/ training/
COPY serving/ serving/

# The same install as `make serve`: scripts/install.sh, into its own venv.
RUN if [ -n "${TORCH_INDEX_URL}" ]; then export PIP_EXTRA_INDEX_URL="${TORCH_INDEX_URL}"; fi \
    && VENV=/home/model-server/venv PYTHON=python3 scripts/install.sh

COPY docker/config.properties /home/model-server/config.properties
COPY docker/entrypoint.sh /usr/local/bin/realcheck-entrypoint
COPY docker/healthcheck.py /usr/local/bin/realcheck-healthcheck.py
# The archives model_store/ holds at build time (`make models`); or mount a
# folder of .mar files over /home/model-server/model-store at run time.
COPY model_store/ /home/model-server/model-store/
RUN install -d -o model-server -g model-server /home/model-server/run

ENV PATH="/home/model-server/venv/bin:${PATH}" \
    REALCHECK_RUN_DIR=/home/model-server/run \
    MPLCONFIGDIR=/tmp/matplotlib \
    XDG_CACHE_HOME=/tmp/cache

# model-server, by number: Kubernetes' runAsNonRoot can only verify a numeric user.
USER 10001:10001
WORKDIR /home/model-server
EXPOSE 8080 8081 8082

# /ping needs the inference token in TorchServe 0.12; the script reads it from run/key_file.json.
HEALTHCHECK --interval=30s --timeout=5s --start-period=180s --retries=3 \
    CMD ["python", "/usr/local/bin/realcheck-healthcheck.py"]

ENTRYPOINT ["/usr/local/bin/realcheck-entrypoint"]
CMD ["serve"]
