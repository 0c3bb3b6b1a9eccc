# nbs2i images, one file, multi-stage (docs/images.md):
#   --target builder  -> nb-builder: the s2i builder image (nbs2i in /opt/nbs2i, s2i scripts)
#   --target runtime  -> nb-runtime: the slim image a built model is copied into
# BASE_IMAGE is any Debian-like image with python3 (3.11) and its venv module.
ARG BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS base
# CA bundle the installers trust (UBI images keep it at /etc/pki/tls/certs/ca-bundle.crt).
ARG CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
ENV APP_ROOT=/opt/app-root \
    HOME=/opt/app-root/home \
    PYTHONUNBUFFERED=1 \
    PORT=8080 \
    SSL_CERT_FILE=${CA_BUNDLE} \
    PIP_CERT=${CA_BUNDLE}
USER root
# OpenShift runs containers as an arbitrary UID in group 0: everything the app writes is
# owned by group 0 and group-writable. UBI's python-311 has user 1001 already.
RUN (id -u 1001 >/dev/null 2>&1 || useradd --uid 1001 --gid 0 --home-dir /opt/app-root/home --no-create-home \
        --shell /usr/sbin/nologin --comment "nbs2i app user" default) \
 && mkdir -p /opt/app-root/home /opt/app-root/src \
 && chown -R 1001:0 /opt/app-root \
 && chmod -R g+rwX /opt/app-root
WORKDIR /opt/app-root
EXPOSE 8080 8081
# Where a model image holds what its build made of it (docs/images.md): the bills of materials
# (CycloneDX), the provenance (in-toto, SLSA) and the signature (OpenSSF model signing).
LABEL io.nbs2i.sbom="/opt/app-root/model/sbom-served.cdx.json" \
      io.nbs2i.sbom.build="/opt/app-root/model/sbom-build.cdx.json" \
      io.nbs2i.provenance="/opt/app-root/model/provenance.intoto.json" \
      io.nbs2i.signature="/opt/app-root/model/model.sig"

FROM base AS builder
ARG BASE_IMAGE
ARG PIP_INDEX_URL=
ARG PIP_EXTRA_INDEX_URL=
LABEL io.openshift.s2i.scripts-url="image:///usr/libexec/s2i" \
      io.openshift.s2i.destination="/tmp" \
      io.openshift.expose-services="8080:http,8081:grpc" \
      io.openshift.tags="builder,python,python311,jupyter,notebook,nbs2i" \
      io.k8s.display-name="nbs2i notebook builder" \
      io.k8s.description="Builds a Jupyter notebook that trains a model into an image serving it over HTTP." \
      summary="s2i builder for Jupyter notebook models"
COPY pyproject.toml /opt/nbs2i/src/
COPY builder /opt/nbs2i/src/builder
COPY service_skeleton /opt/nbs2i/src/service_skeleton
# The builder's own tools (nbformat, nbconvert, jinja2, uv) in their own venv, never in
# the model's. Installed editable: the build copies service_skeleton/ from here.
RUN python3 -m venv /opt/nbs2i/venv \
 && /opt/nbs2i/venv/bin/pip install --quiet --no-cache-dir uv \
 && /opt/nbs2i/venv/bin/uv pip install --quiet --no-cache --python /opt/nbs2i/venv/bin/python -e /opt/nbs2i/src \
 && find /opt/nbs2i -name __pycache__ -prune -exec rm -rf {} +
COPY s2i/bin/ /usr/libexec/s2i/
# NBS2I_BASE_IMAGE: named in each build's provenance as the image it was built on.
ENV PATH=/opt/nbs2i/venv/bin:$PATH \
    NBS2I_CACHE_DIR=/opt/app-root/cache \
    NBS2I_BASE_IMAGE=${BASE_IMAGE}
USER 1001
CMD ["/usr/libexec/s2i/usage"]

FROM base AS runtime
# s2i --runtime-image copies these from the assembled builder into WORKDIR (/opt/app-root):
# a directory /opt/app-root/x lands as /opt/app-root/x, where the build made it.
LABEL io.openshift.s2i.scripts-url="image:///usr/libexec/s2i" \
      io.openshift.s2i.assemble-input-files="/opt/app-root/venv;/opt/app-root/model;/opt/app-root/service" \
      io.openshift.expose-services="8080:http,8081:grpc" \
      io.openshift.tags="runtime,python,python311,nbs2i" \
      io.k8s.display-name="nbs2i model runtime" \
      io.k8s.description="Serves a model built by nb-builder: its venv, model and service, nothing else." \
      summary="s2i runtime image for nbs2i models"
COPY s2i/bin/run s2i/bin/assemble-runtime s2i/bin/usage /usr/libexec/s2i/
USER 1001
CMD ["/usr/libexec/s2i/run"]
