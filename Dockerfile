# syntax=docker/dockerfile:1
# The serving image: the package with its serving dependencies only, run as a
# non-root user, answering on port 5000. Two ways to give it a model (docs/deploy.md):
#
#   docker build --build-arg MODEL=boston-price@production -t estimator:boston .
#       bakes that one version in (resolved from ./models at build time);
#   docker build -t estimator . && docker run -v ./models:/models -e MODEL_FOLDER=/models ...
#       serves a registry mounted at run time.
#
# BASE_IMAGE is any Debian-like image with Python >= 3.11 and its venv module.
ARG BASE_IMAGE=python:3.11-slim

# --- build: a virtual environment holding the package and its `serve` extra -------------
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
# binutils for `strip`: this stage is thrown away, the runtime never holds it.
# hadolint ignore=DL3008
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends binutils >/dev/null \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/estimator
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# pip, setuptools, the libraries' own test suites and the symbol tables of their compiled
# extensions (uvloop, XGBoost, NumPy, SQLAlchemy: 28 MB) are of no use to a server; the
# libraries auditwheel vendored into *.libs/ are left alone (patchelf'd, strip breaks them).
# Bytecode is compiled only for the modules the server imports: a fraction of the size of compiling
# all. The migration command (`estimator db upgrade`) is checked without writing bytecode.
# EXTRAS=serve,train builds the training image the tuning Jobs run (deploy/k8s/components/tune).
ARG EXTRAS=serve
RUN /opt/estimator/bin/pip install --no-compile ".[${EXTRAS}]" \
    && /opt/estimator/bin/pip uninstall --yes pip setuptools \
    && find /opt/estimator -depth -type d -name tests -exec rm -rf {} + \
    && find /opt/estimator -type f -name "*.so*" -not -path "*.libs/*" \
       -exec strip --strip-unneeded {} + \
    && /opt/estimator/bin/python -c "import estimator.cli, estimator.serving.app, uvicorn.main" \
    && /opt/estimator/bin/python -B -c "import estimator.monitoring, psycopg, xgboost; \
assert psycopg.pq.__impl__ == 'binary', psycopg.pq.__impl__"

# --- model: the one version MODEL names, or nothing ----------------------------------------
FROM ${BASE_IMAGE} AS model
ARG MODEL=""
# .dockerignore lets in only the package sources, the two deploy helpers and ./models.
COPY . /context
RUN python3 /context/deploy/bake_model.py --registry /context/models --out /models "${MODEL}"

# --- runtime --------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
ARG MODEL=""
LABEL org.opencontainers.image.title="estimator" \
      org.opencontainers.image.description="House-price estimates over HTTP" \
      org.opencontainers.image.licenses="MIT" \
      io.estimator.model="${MODEL}"
RUN groupadd --system --gid 10001 estimator \
    && useradd --system --uid 10001 --gid estimator --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin estimator
COPY --from=build /opt/estimator /opt/estimator
COPY deploy/healthcheck.py /opt/estimator/healthcheck.py
COPY --from=model /models /models
ENV PATH=/opt/estimator/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ESTIMATOR_HOST=0.0.0.0 \
    ESTIMATOR_PORT=5000 \
    MODEL_FOLDER=/models
WORKDIR /tmp
# A numeric user, so Kubernetes can check runAsNonRoot; the model files stay root's, read-only.
USER 10001:10001
EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/opt/estimator/healthcheck.py"]
CMD ["estimator", "serve"]
