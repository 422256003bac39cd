# crabllm gateway image: a multi-stage build, no dev extras, runs as an unprivileged user.
#   docker build -t crabllm .
#   docker run -p 5632:5632 -v "$PWD/crabllm.toml:/etc/crabllm/crabllm.toml:ro" -e OPENAI_API_KEY crabllm
# The config must set [[keys]] or admin_token: serve refuses a public bind with authentication off.
ARG PYTHON_IMAGE=python:3.12-slim

FROM ${PYTHON_IMAGE} AS builder
# Optional extras, e.g. --build-arg EXTRAS="[telemetry]" for OpenTelemetry traces; never the dev extras.
ARG EXTRAS=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/crabllm
WORKDIR /src
COPY pyproject.toml README.md ./
COPY crabllm ./crabllm
COPY tui ./tui
RUN /opt/crabllm/bin/pip install ".${EXTRAS}"

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/crabllm/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 crabllm \
 && useradd --system --uid 10001 --gid crabllm --home-dir /var/lib/crabllm --create-home --shell /usr/sbin/nologin crabllm \
 && mkdir -p /etc/crabllm
COPY --from=builder /opt/crabllm /opt/crabllm
# A relative sqlite path resolves next to the config, which is mounted read-only: use /var/lib/crabllm/….
WORKDIR /var/lib/crabllm
USER 10001:10001
EXPOSE 5632
# slim has no curl: probe liveness with the interpreter that is already there.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:5632/health', timeout=2).status != 200)"]
# Exec form: crabllm is PID 1 and gets SIGTERM itself, so it drains in-flight requests before exiting.
ENTRYPOINT ["crabllm", "serve", "--config", "/etc/crabllm/crabllm.toml", "--bind", "0.0.0.0:5632"]
CMD []
