#!/usr/bin/env bash
# A three-node RabbitMQ cluster on this machine, beside (never instead of) the machine's own broker.
#
#   bash scripts/rabbitmq-cluster.sh start    # nodes hubc1..hubc3@localhost, AMQP 5701-5703, management 15701-15703
#   bash scripts/rabbitmq-cluster.sh status   # the cluster's members as rabbitmqctl sees them
#   bash scripts/rabbitmq-cluster.sh url      # the HUB_AMQP_URL that lists every node (comma separated)
#   bash scripts/rabbitmq-cluster.sh stop     # stops every node and removes the data directory
#   bash scripts/rabbitmq-cluster.sh stop-node N / start-node N   # one node down or back (failover tests)
#
# Each node has its own node name, ports, data and log directories under HUB_CLUSTER_DIR (default
# /tmp/hub-rabbit-cluster) and the cluster has its own Erlang cookie, so it never joins or disturbs the broker on
# 5672. Quorum queues declared on it get a member on each of the three nodes (the default initial group size of
# a quorum queue is the cluster size). Overridable: HUB_CLUSTER_AMQP_BASE (5700), HUB_CLUSTER_MGMT_BASE (15700),
# HUB_CLUSTER_DIST_BASE (25700).
set -euo pipefail

DIR=${HUB_CLUSTER_DIR:-/tmp/hub-rabbit-cluster}
AMQP_BASE=${HUB_CLUSTER_AMQP_BASE:-5700}
MGMT_BASE=${HUB_CLUSTER_MGMT_BASE:-15700}
DIST_BASE=${HUB_CLUSTER_DIST_BASE:-25700}
BIN=${RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}
NODES=(1 2 3)

[ -x "$BIN/rabbitmq-server" ] || { echo "rabbitmq-cluster: no RabbitMQ in $BIN (apt-get install rabbitmq-server)" >&2; exit 2; }

node_name() { echo "hubc$1@localhost"; }

# Everything a node's scripts read, for node $1: its own names, ports, directories and cookie (HOME).
node_env() {
  local n=$1
  export HOME="$DIR"  # the cluster's .erlang.cookie
  export RABBITMQ_CONF_ENV_FILE="$DIR/empty-env.conf"  # not the machine's /etc/rabbitmq/rabbitmq-env.conf
  export RABBITMQ_NODENAME; RABBITMQ_NODENAME=$(node_name "$n")
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT=$((AMQP_BASE + n))
  export RABBITMQ_DIST_PORT=$((DIST_BASE + n))
  export RABBITMQ_CONFIG_FILE="$DIR/node$n/rabbitmq.conf"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$DIR/node$n/advanced.config"
  export RABBITMQ_MNESIA_BASE="$DIR/node$n/mnesia"
  export RABBITMQ_LOG_BASE="$DIR/node$n/log"
  export RABBITMQ_PID_FILE="$DIR/node$n/pid"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/enabled_plugins"
  export RABBITMQ_CTL_DIST_PORT_MIN=$((DIST_BASE + 50 + n * 10))
  export RABBITMQ_CTL_DIST_PORT_MAX=$((DIST_BASE + 59 + n * 10))
  export ERL_EPMD_ADDRESS=127.0.0.1
}

ctl() {  # node, args...
  local n=$1; shift
  (node_env "$n"; "$BIN/rabbitmqctl" -n "$(node_name "$n")" "$@")
}

prepare() {
  mkdir -p "$DIR"
  if [ ! -f "$DIR/.erlang.cookie" ]; then
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DIR/.erlang.cookie"
    chmod 400 "$DIR/.erlang.cookie"
  fi
  : > "$DIR/empty-env.conf"
  echo "[rabbitmq_management]." > "$DIR/enabled_plugins"
  for n in "${NODES[@]}"; do
    mkdir -p "$DIR/node$n/mnesia" "$DIR/node$n/log"
    cat > "$DIR/node$n/rabbitmq.conf" <<CONF
listeners.tcp.local = 127.0.0.1:$((AMQP_BASE + n))
management.tcp.ip = 127.0.0.1
management.tcp.port = $((MGMT_BASE + n))
loopback_users = none
cluster_partition_handling = pause_minority
CONF
    echo "[]." > "$DIR/node$n/advanced.config"
  done
}

start_node() {
  local n=$1
  (node_env "$n"; "$BIN/rabbitmq-server" -detached)
  # -detached returns before the node is registered: wait for its pid file, then for the boot to finish.
  ctl "$n" wait "$DIR/node$n/pid" --timeout 120 >/dev/null
}

start() {
  prepare
  for n in "${NODES[@]}"; do start_node "$n"; done
  for n in 2 3; do
    if ! ctl "$n" cluster_status --formatter json 2>/dev/null | grep -q "$(node_name 1)"; then
      ctl "$n" stop_app >/dev/null
      ctl "$n" join_cluster "$(node_name 1)" >/dev/null
      ctl "$n" start_app >/dev/null
    fi
  done
  ctl 1 await_online_nodes 3 --timeout 60 >/dev/null 2>&1 || true
  echo "cluster up: $(url)"
}

stop_node() {
  local n=$1
  ctl "$n" stop >/dev/null 2>&1 || true
}

stop() {
  for n in 3 2 1; do stop_node "$n"; done
  rm -rf "$DIR"
  echo "cluster stopped"
}

url() {
  local urls=()
  for n in "${NODES[@]}"; do urls+=("amqp://guest:guest@127.0.0.1:$((AMQP_BASE + n))/"); done
  (IFS=,; echo "${urls[*]}")
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) ctl 1 cluster_status ;;
  url) url ;;
  stop-node) stop_node "${2:?node number}" ;;
  start-node) start_node "${2:?node number}" ;;
  *) echo "usage: $0 start|stop|status|url|stop-node N|start-node N" >&2; exit 2 ;;
esac
