# The schoolapp API: one uvicorn process on port 3000, as ECS runs it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies in their own layer: rebuilt only when the lock changes.
COPY requirements.lock ./
RUN pip install -r requirements.lock

RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app

COPY index.py ./
COPY config ./config
COPY controllers ./controllers
COPY models ./models
COPY routes ./routes

USER app
EXPOSE 3000
# ECS sends SIGTERM; the service drains in-flight requests and exits.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=2s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/health', timeout=2)"]
CMD ["python", "index.py"]
