# harvest-sync's image. Multi-stage: the app and its dependencies are installed into a
# virtualenv in a build stage; the runtime stage copies only that virtualenv onto the same
# base and runs as uid 10001, not root.
#
# BASE_IMAGE: any image with Python 3.11+ and its venv module, the official one by default.
# CI builds on Debian's python3 + python3-venv (tests/deploy/test_image.py, README "The image").
# Behind a TLS-inspecting proxy, hand pip your CA bundle:
#   --secret id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
RUN python3 -m venv /opt/harvest-sync
WORKDIR /src
# The dependencies first, in a layer of their own: a code change does not fetch them again.
COPY pyproject.toml ./
RUN --mount=type=secret,id=ca_bundle \
    if [ -f /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
    && python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
       > requirements.txt \
    && /opt/harvest-sync/bin/pip install --no-cache-dir --disable-pip-version-check -r requirements.txt
COPY README.md ./
COPY domain domain
COPY infra infra
COPY consumers consumers
COPY producers producers
COPY harvest_sync harvest_sync
COPY simulator simulator
RUN --mount=type=secret,id=ca_bundle \
    if [ -f /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
    && /opt/harvest-sync/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps .

FROM ${BASE_IMAGE}
RUN useradd --create-home --uid 10001 harvest
COPY --from=build /opt/harvest-sync /opt/harvest-sync
ENV PATH=/opt/harvest-sync/bin:$PATH \
    PYTHONUNBUFFERED=1
# A uid, not a name: Kubernetes' runAsNonRoot can only verify a number.
USER 10001
# /healthz, /readyz and /metrics of a worker or the scheduler (METRICS_PORT)
EXPOSE 9100
CMD ["harvest-sync", "--help"]
