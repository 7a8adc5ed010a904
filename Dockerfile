# The schoolapp API: one uvicorn process on port 3000, as ECS runs it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The Amazon RDS CA bundle, which DB_SSL_CA points at in AWS mode. AWS serves it at a
# fixed URL whose content changes when a CA rotates, so the build accepts only the
# bundle with the pinned SHA-256: a changed bundle fails the build until someone has
# checked it and pinned the new checksum (deploy/README.md, "The RDS CA bundle").
# First of the steps that download: it changes least often, and a refusal costs seconds.
ARG RDS_CA_URL=https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
ARG RDS_CA_SHA256=e5bb2084ccf45087bda1c9bffdea0eb15ee67f0b91646106e466714f9de3c7e3
RUN mkdir -p /etc/ssl/rds \
    && python -c 'import sys, urllib.request; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1], timeout=60).read())' \
        "$RDS_CA_URL" > /etc/ssl/rds/global-bundle.pem \
    && if ! echo "$RDS_CA_SHA256  /etc/ssl/rds/global-bundle.pem" | sha256sum --check --strict --quiet; then \
        echo "RDS CA bundle from $RDS_CA_URL does not match RDS_CA_SHA256=$RDS_CA_SHA256" \
            "(its SHA-256 is $(sha256sum < /etc/ssl/rds/global-bundle.pem | cut -d' ' -f1)); see deploy/README.md" >&2; \
        exit 1; \
    fi \
    && chmod 0444 /etc/ssl/rds/global-bundle.pem

# Dependencies in their own layer: rebuilt only when the lock changes.
COPY requirements.lock ./
RUN pip install -r requirements.lock

RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app

COPY index.py cli.py ./
COPY config ./config
COPY controllers ./controllers
COPY mail ./mail
COPY models ./models
COPY routes ./routes

USER app
EXPOSE 3000
# ECS sends SIGTERM; the service drains in-flight requests and exits.
STOPSIGNAL SIGTERM
# On the port the service listens on (PORT), not a fixed 3000.
HEALTHCHECK --interval=10s --timeout=2s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '3000'), timeout=2)"]
CMD ["python", "index.py"]
