# The model-check GitHub Action image (see action.yml).
#
#   docker build -t model-check .                                  # official slim Python base
#   docker build --build-arg BASE_IMAGE=local/python:3.11-bookworm .   # any Debian-based Python >= 3.11
#
# Dependencies are pinned with hashes in docker/requirements.txt; extra CA certificates for
# building this image behind a corporate proxy go into docker/ca-certificates/ (at run time the
# action's `ca-bundle` input does it, no fork needed). The image holds the validator and a docker
# CLI: package code never runs in this container, only in sibling containers it starts.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# Debian's docker CLI: one binary linked only against libc; the engine and its dependencies
# stay in this stage.
FROM ${BASE_IMAGE} AS docker-cli
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker.io \
 && cp /usr/bin/docker /docker-cli \
 && rm -rf /var/lib/apt/lists/*

FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
    PATH=/opt/model-check/bin:$PATH
COPY docker/ca-certificates/ /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null
COPY --from=docker-cli /docker-cli /usr/local/bin/docker
COPY docker/requirements.txt /tmp/requirements.txt
RUN python3 -m venv /opt/model-check \
 && /opt/model-check/bin/pip install --require-hashes --only-binary :all: -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt
COPY pyproject.toml README.m[d] /src/
COPY validator /src/validator
RUN /opt/model-check/bin/pip install --no-deps --no-build-isolation /src \
 && /opt/model-check/bin/pip check \
 && rm -rf /src
COPY entrypoint.py /app/entrypoint.py
ENTRYPOINT ["/opt/model-check/bin/python", "/app/entrypoint.py"]
