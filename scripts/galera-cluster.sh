#!/usr/bin/env bash
# A throw-away 3-node MariaDB Galera cluster on loopback ports, plus an HAProxy in front of it,
# for the Galera tests and for trying the daemons on a cluster by hand.
#
#   scripts/galera-cluster.sh start      # (re)creates the cluster; prints the URLs
#   scripts/galera-cluster.sh status     # each node's state and the cluster size
#   scripts/galera-cluster.sh kill9 N    # kill -9 node N (1..3), as a crash would
#   scripts/galera-cluster.sh stop       # stops HAProxy and every node, removes the directory
#
# It runs extra `mariadbd` processes from the Debian packages (mariadb-server 10.11, galera-4,
# rsync for state transfers, haproxy), each with its own --defaults-file, so it never reads
# /etc/mysql nor touches the server on 3306, its socket or its data. Run it as root: the nodes
# run as the `mysql` user in a directory owned by it.
#
# Ports (GALERA_BASE_PORT, default 23060): HAProxy on BASE, nodes on BASE+1..BASE+3, group
# communication on 24671..24673, incremental state transfer on 24681..24683, rsync state
# transfer on 24691..24693: all below Linux's ephemeral range (32768-60999), where a client
# connection's local port, or its TIME_WAIT after a busy test run, could hold one of them and
# make a bind fail. HAProxy sends every connection to node 1 while it is up, then to
# node 2, then node 3 (one writer node at a time avoids certification conflicts).
#
# Every node accepts `tiklive` / `tiklive` from 127.0.0.1 with every privilege; HAProxy checks
# the nodes as `haproxy_check` (no password, no privileges).
#
# Exit codes: 0 done; 1 failed (the nodes' logs are printed); 2 bad arguments; 3 prerequisites
# missing (not root, no mariadbd, no Galera library, no rsync, no haproxy), with the reason on
# stderr: the Galera tests fail on it when TEST_GALERA is set.
set -euo pipefail

BASE_PORT=${GALERA_BASE_PORT:-23060}
DIR=${GALERA_DIR:-/tmp/tiklive-galera}
MARIADBD=${MARIADBD:-/usr/sbin/mariadbd}
PROVIDER=${GALERA_PROVIDER:-/usr/lib/galera/libgalera_smm.so}
NODES=(1 2 3)

node_dir() { echo "$DIR/node$1"; }
node_port() { echo $((BASE_PORT + $1)); }
node_sock() { echo "$(node_dir "$1")/mysqld.sock"; }
node_pid() { cat "$(node_dir "$1")/mysqld.pid" 2>/dev/null || true; }
sqln() { mariadb --no-defaults --protocol=socket --socket="$(node_sock "$1")" -uroot -N -B -e "$2"; }

die() { echo "galera-cluster: $*" >&2; exit 1; }
usage() { echo "galera-cluster: $*" >&2; exit 2; }
missing() { echo "galera-cluster: cannot start: $*" >&2; exit 3; }

prerequisites() {
  [ "$(id -u)" = 0 ] || missing "run as root (the nodes run as the mysql user)"
  [ -x "$MARIADBD" ] || missing "no $MARIADBD (apt-get install mariadb-server)"
  [ -f "$PROVIDER" ] || missing "no Galera library at $PROVIDER (apt-get install galera-4)"
  command -v rsync >/dev/null || missing "no rsync for state transfers (apt-get install rsync)"
  command -v haproxy >/dev/null || missing "no haproxy (apt-get install haproxy)"
  id mysql >/dev/null 2>&1 || missing "no mysql user"
}

# A process we started earlier: its pid file names it and its command line names our directory.
ours() {
  local pid=$1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$DIR/"
}

write_config() {
  local n=$1 d
  d=$(node_dir "$n")
  cat >"$d/my.cnf" <<EOF
[mysqld]
user = mysql
datadir = $d/data
socket = $d/mysqld.sock
pid-file = $d/mysqld.pid
log-error = $d/error.log
port = $(node_port "$n")
bind-address = 127.0.0.1
skip-name-resolve
character-set-server = utf8mb4
collation-server = utf8mb4_unicode_ci
performance_schema = OFF
innodb_buffer_pool_size = 64M
innodb_log_file_size = 32M
# Durability comes from the synchronous replication; the tests need speed.
innodb_flush_log_at_trx_commit = 2
binlog_format = ROW
default_storage_engine = InnoDB
innodb_autoinc_lock_mode = 2
wsrep_on = ON
wsrep_provider = $PROVIDER
wsrep_cluster_name = tiklive_galera
wsrep_cluster_address = gcomm://127.0.0.1:24671,127.0.0.1:24672,127.0.0.1:24673
wsrep_node_name = node$n
wsrep_node_address = 127.0.0.1:2467$n
wsrep_node_incoming_address = 127.0.0.1:$(node_port "$n")
wsrep_sst_method = rsync
wsrep_sst_receive_address = 127.0.0.1:2469$n
wsrep_provider_options = "gmcast.listen_addr=tcp://127.0.0.1:2467$n;ist.recv_addr=127.0.0.1:2468$n;gcache.size=64M;evs.suspect_timeout=PT3S;evs.inactive_timeout=PT6S;evs.install_timeout=PT6S"
EOF
}

wait_synced() {
  local n=$1 i state
  for i in $(seq 1 120); do
    if ! ours "$(node_pid "$n")" && [ "$i" -gt 20 ]; then
      break
    fi
    state=$(sqln "$n" "SHOW STATUS LIKE 'wsrep_local_state_comment'" 2>/dev/null | cut -f2 || true)
    [ "$state" = Synced ] && return 0
    sleep 0.5
  done
  echo "--- node$n error.log" >&2
  tail -n 40 "$(node_dir "$n")/error.log" >&2 || true
  die "node$n did not reach Synced"
}

start_node() {
  local n=$1
  shift
  # setsid: the node must not die with the shell or the test that started it.
  setsid "$MARIADBD" --defaults-file="$(node_dir "$n")/my.cnf" "$@" </dev/null >/dev/null 2>&1 &
  wait_synced "$n"
}

write_haproxy() {
  cat >"$DIR/haproxy.cfg" <<EOF
global
    maxconn 2000
    pidfile $DIR/haproxy.pid

defaults
    mode tcp
    timeout connect 1s
    # Pooled connections sit idle between bursts; the daemons notice dead ones themselves.
    timeout client 1h
    timeout server 1h
    retries 2
    option redispatch

listen galera
    bind 127.0.0.1:$BASE_PORT
    option mysql-check user haproxy_check post-41
    default-server inter 500ms fall 2 rise 3 on-marked-down shutdown-sessions
    server node1 127.0.0.1:$(node_port 1) check
    server node2 127.0.0.1:$(node_port 2) check backup
    server node3 127.0.0.1:$(node_port 3) check backup
EOF
}

stop_all() {
  local pid n i
  pid=$(cat "$DIR/haproxy.pid" 2>/dev/null || true)
  if ours "$pid"; then kill "$pid" 2>/dev/null || true; fi
  for n in 3 2 1; do
    pid=$(node_pid "$n")
    ours "$pid" || continue
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 60); do
      ours "$pid" || break
      sleep 0.5
    done
    if ours "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
  done
  # A node killed -9 may leave a state-transfer helper (rsync daemon) behind.
  for pid in $(pgrep -f "$DIR/" || true); do
    case "$(cat "/proc/$pid/comm" 2>/dev/null)" in
      mariadbd | rsync | haproxy) ours "$pid" && kill -9 "$pid" 2>/dev/null || true ;;
    esac
  done
  rm -rf "$DIR"
}

start() {
  prerequisites
  stop_all
  mkdir -p "$DIR"
  for n in "${NODES[@]}"; do
    mkdir -p "$(node_dir "$n")"
    write_config "$n"
  done
  mariadb-install-db --no-defaults --user=mysql --datadir="$(node_dir 1)/data" \
    --auth-root-authentication-method=socket --skip-test-db >"$DIR/install.log" 2>&1 \
    || { cat "$DIR/install.log" >&2; die "mariadb-install-db failed"; }
  # The joiners' data is replaced by a state transfer; they only need a datadir to start in.
  cp -a "$(node_dir 1)/data" "$(node_dir 2)/data"
  cp -a "$(node_dir 1)/data" "$(node_dir 3)/data"
  chown -R mysql:mysql "$DIR"

  start_node 1 --wsrep-new-cluster
  sqln 1 "CREATE USER 'tiklive'@'127.0.0.1' IDENTIFIED BY 'tiklive';
          GRANT ALL PRIVILEGES ON *.* TO 'tiklive'@'127.0.0.1';
          CREATE USER 'haproxy_check'@'127.0.0.1';"
  start_node 2
  start_node 3

  write_haproxy
  haproxy -D -f "$DIR/haproxy.cfg" || die "haproxy did not start"
  for _ in $(seq 1 40); do
    mariadb --no-defaults -h127.0.0.1 -P"$BASE_PORT" -utiklive -ptiklive -N -e 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.25
  done
  urls
}

urls() {
  echo "haproxy mysql://tiklive:tiklive@127.0.0.1:$BASE_PORT/DATABASE"
  for n in "${NODES[@]}"; do
    echo "node$n mysql://tiklive:tiklive@127.0.0.1:$(node_port "$n")/DATABASE"
  done
}

status() {
  local n pid
  for n in "${NODES[@]}"; do
    pid=$(node_pid "$n")
    if ours "$pid"; then
      printf 'node%s port %s pid %s: %s, cluster size %s\n' "$n" "$(node_port "$n")" "$pid" \
        "$(sqln "$n" "SHOW STATUS LIKE 'wsrep_local_state_comment'" 2>/dev/null | cut -f2)" \
        "$(sqln "$n" "SHOW STATUS LIKE 'wsrep_cluster_size'" 2>/dev/null | cut -f2)"
    else
      printf 'node%s port %s: down\n' "$n" "$(node_port "$n")"
    fi
  done
  pid=$(cat "$DIR/haproxy.pid" 2>/dev/null || true)
  if ours "$pid"; then echo "haproxy port $BASE_PORT pid $pid"; else echo "haproxy: down"; fi
}

kill9() {
  local n=${1:-}
  case "$n" in 1 | 2 | 3) ;; *) usage "kill9 needs a node number 1..3" ;; esac
  local pid
  pid=$(node_pid "$n")
  ours "$pid" || die "node$n is not running"
  kill -9 "$pid"
  echo "node$n (pid $pid) killed"
}

case "${1:-}" in
  start) start ;;
  stop) stop_all ;;
  status) status ;;
  urls) urls ;;
  kill9) kill9 "${2:-}" ;;
  *) usage "usage: $0 start|stop|status|urls|kill9 N" ;;
esac
