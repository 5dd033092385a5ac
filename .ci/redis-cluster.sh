#!/usr/bin/env bash
# Makes sure a local 3-master Redis Cluster answers on 127.0.0.1:7000-7002 (no replicas, no
# persistence), for the RedisStore cluster tests. Idempotent: a cluster that already answers
# with cluster_state:ok is left alone; missing nodes are started (with their old cluster config
# when there is one, so they rejoin); a fresh set of nodes is joined with
# `redis-cli --cluster create`. Never touches the standalone Redis on 6379.
#
# Then: export AUTH_TEST_REDIS_CLUSTER_URL=redis://127.0.0.1:7000
# (the tests also accept a comma-separated list of node URLs; one node is enough to discover
# the others).
#
# Environment: AUTH_REDIS_CLUSTER_DIR (default: $TMPDIR or /tmp, then auth-redis-cluster) holds
# each node's cluster config file and log.
set -euo pipefail

HOST=127.0.0.1
PORTS=(7000 7001 7002)
DIR="${AUTH_REDIS_CLUSTER_DIR:-${TMPDIR:-/tmp}/auth-redis-cluster}"

cli() { # port, args...
  local port=$1; shift
  redis-cli -h "$HOST" -p "$port" "$@"
}

node_up() { cli "$1" ping 2>/dev/null | grep -q PONG; }

# cluster_state:ok as seen by every node.
cluster_ok() {
  local port
  for port in "${PORTS[@]}"; do
    cli "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
  done
}

wait_until() { # what, seconds, check command...
  local what=$1 seconds=$2; shift 2
  for _ in $(seq 1 "$seconds"); do
    if "$@"; then return 0; fi
    sleep 1
  done
  echo "redis-cluster: $what: timed out after ${seconds}s" >&2
  return 1
}

if cluster_ok; then
  echo "redis-cluster: already up (cluster_state:ok on ${PORTS[*]})"
  exit 0
fi

for port in "${PORTS[@]}"; do
  if node_up "$port"; then
    if ! cli "$port" info cluster | grep -q '^cluster_enabled:1'; then
      echo "redis-cluster: 127.0.0.1:$port answers but is not a cluster node; free the port" >&2
      exit 1
    fi
    continue
  fi
  echo "redis-cluster: starting node 127.0.0.1:$port"
  mkdir -p "$DIR/$port"
  redis-server \
    --bind "$HOST" --port "$port" \
    --cluster-enabled yes --cluster-config-file "$DIR/$port/nodes.conf" \
    --cluster-node-timeout 5000 \
    --dir "$DIR/$port" --logfile "$DIR/$port/redis.log" \
    --save "" --appendonly no --daemonize yes
done

all_up() {
  local port
  for port in "${PORTS[@]}"; do node_up "$port" || return 1; done
}
wait_until "nodes answering" 30 all_up

# Nodes that have never been joined have no slots: create the cluster. Nodes restarted from
# their config files rejoin by themselves.
unassigned=0
for port in "${PORTS[@]}"; do
  if cli "$port" cluster info | grep -q '^cluster_slots_assigned:0'; then
    unassigned=$((unassigned + 1))
  fi
done
if [ "$unassigned" -eq "${#PORTS[@]}" ]; then
  echo "redis-cluster: creating the cluster"
  nodes=()
  for port in "${PORTS[@]}"; do nodes+=("$HOST:$port"); done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
elif [ "$unassigned" -ne 0 ]; then
  echo "redis-cluster: some nodes have slots and some have none: a half-built cluster." >&2
  echo "redis-cluster: stop the nodes on ${PORTS[*]}, remove $DIR and run this again." >&2
  exit 1
fi

if ! wait_until "cluster_state:ok" 30 cluster_ok; then
  echo "redis-cluster: see the logs in $DIR/*/redis.log" >&2
  exit 1
fi
echo "redis-cluster: up (cluster_state:ok on ${PORTS[*]})"
