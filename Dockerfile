# syntax=docker/dockerfile:1
# One image for every hub process: `hub run <consumer>`, `hub run all`, `hub serve`, `hub db upgrade`.

# --- build: install the project and its dependencies into a virtualenv -----------------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

WORKDIR /src
# The locked dependencies first, each checked against its hash (a layer that changes only with the lock).
COPY requirements/base.txt ./requirements/base.txt
RUN pip install --require-hashes --no-deps -r requirements/base.txt
# README.md is the package's long description (pyproject.toml `readme`), LICENSE its licence file
# (`license-files`); these COPYs fail if they are missing.
COPY pyproject.toml README.md LICENSE ./
COPY hub ./hub
COPY consumers ./consumers
COPY contracts ./contracts
COPY infra ./infra
# A regular (non-editable) install: the runtime stage needs the virtualenv only, not /src. The build backend
# comes from the lock (no build isolation), and `pip check` fails the build if the lock misses a dependency.
RUN pip install --no-deps --no-build-isolation . \
    && pip check \
    && python -c "import hub, consumers, contracts, infra"

# --- runtime: the virtualenv, a non-root user, nothing else ------------------------------------------
FROM python:3.11-slim AS runtime

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH="/opt/venv/bin:${PATH}"

RUN groupadd --system --gid 10001 hub \
    && useradd --system --uid 10001 --gid hub --home-dir /app --shell /usr/sbin/nologin hub \
    && mkdir -p /app \
    && chown hub:hub /app

COPY --from=build /opt/venv /opt/venv

# The working directory belongs to the hub user so the laptop defaults (a SQLite file, a .env file
# read from the working directory) also work in a bare `docker run`.
WORKDIR /app
USER hub:hub

EXPOSE 8080

# Liveness and readiness are probed by the orchestrator (docker-compose.yml, Kubernetes), per process.
HEALTHCHECK NONE

# Exec form, no shell in between: `hub` itself receives SIGTERM on `docker stop` and lets the consumers
# finish their in-flight deliveries (compose adds an init process with `init: true`).
ENTRYPOINT ["hub"]
CMD ["run", "all"]
