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

.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/pytest "$@"
