#!/usr/bin/env bash
# Runs the whole test suite: lint, types, unit, integration and end-to-end tests.
# Services: HUB_TEST_AMQP_URL / HUB_TEST_POSTGRES_URL if set; else the RabbitMQ and PostgreSQL on this
# machine if they answer; else testcontainers starts them (Docker needed). A missing service fails the run.
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh" test

answers() { .venv/bin/python -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 2)" "$1" 2>/dev/null; }
if [ -z "${HUB_TEST_AMQP_URL:-}" ] && answers 5672; then
  export HUB_TEST_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/"
fi
if [ -z "${HUB_TEST_POSTGRES_URL:-}" ] && answers 5432; then
  export HUB_TEST_POSTGRES_URL="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
fi

# The broker's management API (contractor provisioning tests; rabbitmqctl is the fallback), where this machine
# runs the broker itself. Idempotent.
if command -v rabbitmq-plugins >/dev/null && [ "$(id -u)" = 0 ]; then
  rabbitmq-plugins enable --quiet rabbitmq_management >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do answers 15672 && break; sleep 1; done
fi
# The dashboard test drives Debian's Chromium (a test tool's own browser download is not possible here);
# the alert rules are checked by promtool (Debian's prometheus package, without the exporters it recommends).
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  if ! command -v chromium >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
  if ! command -v promtool >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  fi
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .  # the Python files and the python code blocks in the Markdown docs (this ruff formats both)
.venv/bin/mypy
if [ "$#" -gt 0 ]; then  # the tests asked for, in one process
  exec .venv/bin/pytest "$@"
fi
# Two processes (pytest-xdist), each with a vhost of its own and a database per test; then, alone, the tests that
# stop this machine's RabbitMQ and PostgreSQL or start a cluster of their own (marked serial).
# HUB_TEST_WORKERS=1: the whole suite in one process.
workers=${HUB_TEST_WORKERS:-2}
if [ "$workers" -gt 1 ]; then
  .venv/bin/pytest -n "$workers" --dist loadfile -m "not serial"
else
  .venv/bin/pytest -m "not serial"
fi
.venv/bin/pytest -m serial
