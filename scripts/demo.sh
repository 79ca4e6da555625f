#!/usr/bin/env bash
# The hub's main job on the embedded default: SQLite file, RabbitMQ on localhost, simulated city traffic.
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh" base
exec .venv/bin/hub demo "$@"
