# The portal's image: one image for every role, chosen by the command.
#   docker build -t portal .
#   docker run --rm -p 8000:8000 portal                 embedded mode: API + UI + worker pool, SQLite in /var/lib/portal
#   portal serve --host 0.0.0.0 --port 8000 | portal worker | portal migrate     the roles of the distributed mode
# deploy/compose.yaml and deploy/kubernetes/ run it; docs/operations.md explains them.
#
# The build steps are the Makefile's own (`make web`, the project part of `make install`):
# tests/unit/deploy/test_deploy.py fails when the two drift apart.

ARG NODE_IMAGE=node:20-slim
ARG PYTHON_IMAGE=python:3.11-slim

# 1. The web UI, built into src/portal/web/ exactly as `make web` does (vite's outDir is ../src/portal/web).
FROM ${NODE_IMAGE} AS web
WORKDIR /build/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm install --no-audit --no-fund --loglevel=error
COPY frontend/ ./
RUN npm run build --silent

# 2. The Python package with the built UI inside it, installed into a virtual environment that stage 3 copies.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/portal
ENV PATH=/opt/portal/bin:$PATH
WORKDIR /build
COPY pyproject.toml README.md ./
# The versions `make install` installs (requirements/lock.txt, written by `make lock`): the runtime's part of them.
COPY requirements/lock.txt requirements/
COPY src/ src/
COPY --from=web /build/src/portal/web/ src/portal/web/
RUN pip install --constraint=requirements/lock.txt .
# The example catalog (PORTAL_CATALOG_LOAD_EXAMPLES) is read from portal.settings.EXAMPLES_DIR, a folder next to
# the installed package rather than inside it: put it where the installed package looks for it.
COPY examples/catalog/ /tmp/examples-catalog/
RUN python -c "import pathlib, shutil, portal, portal.settings as s; \
assert (pathlib.Path(portal.__file__).parent / 'web' / 'index.html').is_file(), 'the web UI is not in the package'; \
shutil.copytree('/tmp/examples-catalog', s.EXAMPLES_DIR)"

# 3. The runtime: no compilers, no node, no sources; git for catalog Git imports, tini as PID 1 (it reaps the
#    orphans of killed job process groups and forwards SIGTERM, which starts Celery's warm shutdown).
FROM ${PYTHON_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends git tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 portal \
 && useradd --system --uid 10001 --gid portal --home-dir /var/lib/portal --shell /usr/sbin/nologin portal \
 && install -d -o portal -g portal -m 0750 /var/lib/portal
COPY --from=build /opt/portal /opt/portal
ENV PATH=/opt/portal/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORTAL_DATA_DIR=/var/lib/portal
WORKDIR /var/lib/portal
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["tini", "--"]
CMD ["portal", "serve", "--host", "0.0.0.0", "--port", "8000"]
