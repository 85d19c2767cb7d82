# PostgreSQL and Redis for the test suite. Sourced by Helper_Scripts/test.sh (bash, after
# bootstrap.sh made .venv), not run on its own:
#
#   source Helper_Scripts/test_services.sh
#   trap stop_test_services EXIT
#   start_test_services
#
# start_test_services reads STT_TEST_POSTGRES_URL and STT_TEST_REDIS_URL (defaults: the
# standard local ports). A server that answers there (a login and a query; a PING) is used
# as it is: nothing is installed or started. One that does not is replaced by a throw-away
# instance on a free loopback port, in a temporary directory (PostgreSQL with trust auth, no
# fsync; Redis without persistence), installing the Debian packages first if the binaries
# are missing; the URL variable is then exported pointing at it. stop_test_services stops
# what was started and removes its directory. Anything that cannot be had fails loudly:
# the suite never skips these tests for want of a server.

_stt_services_dir=""
_stt_pg_bin=""
_stt_pg_user=""
_stt_pg_data=""
_stt_redis_pidfile=""

_stt_say() { echo "test services: $*" >&2; }
_stt_fail() {
  _stt_say "ERROR: $*"
  return 1
}

_stt_py() { "${STT_TEST_SERVICES_PYTHON:-.venv/bin/python}" "$@"; }

# 0 when PostgreSQL at $1 accepts a login and answers a query.
_stt_pg_answers() {
  _stt_py - "$1" <<'EOF' >/dev/null 2>&1
import sys
import psycopg
with psycopg.connect(sys.argv[1], connect_timeout=5) as conn:
    conn.execute("SELECT 1")
EOF
}

# 0 when Redis at $1 answers PING.
_stt_redis_answers() {
  _stt_py - "$1" <<'EOF' >/dev/null 2>&1
import sys
import redis
client = redis.Redis.from_url(sys.argv[1], socket_connect_timeout=3, socket_timeout=3)
sys.exit(0 if client.ping() else 1)
EOF
}

_stt_free_port() {
  _stt_py -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The directory holding initdb and pg_ctl: on PATH, or the newest /usr/lib/postgresql/N/bin
# (Debian and Ubuntu keep the server binaries there, off PATH).
_stt_find_pg_bin() {
  local dir
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return 0
  fi
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

# apt-get install the given Debian packages (as root, or through sudo).
_stt_apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { _stt_fail "not root and no sudo: cannot install $*"; return 1; }
    sudo="sudo"
  fi
  command -v apt-get >/dev/null 2>&1 || { _stt_fail "no apt-get: install $* yourself"; return 1; }
  _stt_say "installing $* (apt-get)"
  $sudo apt-get update -qq >/dev/null || { _stt_fail "apt-get update failed"; return 1; }
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null \
    || { _stt_fail "apt-get install $* failed"; return 1; }
}

_stt_make_dir() {
  [ -n "$_stt_services_dir" ] && return 0
  _stt_services_dir=$(mktemp -d "${TMPDIR:-/tmp}/stt-test-services.XXXXXX") || return 1
  chmod 711 "$_stt_services_dir"  # the postgres user must reach its own subdirectory
}

# Run a command as the user that owns the throw-away cluster (initdb refuses root).
_stt_as_pg_user() {
  if [ "$(id -u)" -ne 0 ]; then
    "$@"
  elif command -v runuser >/dev/null 2>&1; then
    runuser -u "$_stt_pg_user" -- "$@"
  else
    su -s /bin/sh "$_stt_pg_user" -c "$(printf '%q ' "$@")"
  fi
}

_stt_start_postgres() {
  local port socket_dir log attempt
  _stt_pg_bin=$(_stt_find_pg_bin) || {
    _stt_apt_install postgresql || return 1
    _stt_pg_bin=$(_stt_find_pg_bin) || { _stt_fail "postgresql installed but no initdb/pg_ctl found"; return 1; }
  }
  _stt_pg_user=$(id -un)
  if [ "$(id -u)" -eq 0 ]; then
    _stt_pg_user=postgres
    id postgres >/dev/null 2>&1 || { _stt_fail "running as root and there is no 'postgres' user to run initdb as"; return 1; }
  fi
  _stt_make_dir || { _stt_fail "cannot create a temporary directory"; return 1; }
  mkdir "$_stt_services_dir/postgres" || return 1
  _stt_pg_data="$_stt_services_dir/postgres/data"
  socket_dir="$_stt_services_dir/postgres"
  log="$_stt_services_dir/postgres/server.log"
  [ "$(id -u)" -eq 0 ] && chown "$_stt_pg_user" "$_stt_services_dir/postgres"
  _stt_as_pg_user "$_stt_pg_bin/initdb" -D "$_stt_pg_data" -U postgres -A trust -E UTF8 \
    --locale=C --no-sync >"$_stt_services_dir/initdb.log" 2>&1 || {
    cat "$_stt_services_dir/initdb.log" >&2
    _stt_pg_data=""
    _stt_fail "initdb failed"
    return 1
  }
  for attempt in 1 2 3; do  # another process may take the free port first
    port=$(_stt_free_port)
    _stt_as_pg_user "$_stt_pg_bin/pg_ctl" -D "$_stt_pg_data" -l "$log" -w -t 60 -s \
      -o "-p $port -k $socket_dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null && break
    [ "$attempt" -eq 3 ] && {
      tail -n 20 "$log" >&2 2>/dev/null
      _stt_fail "PostgreSQL did not start"
      return 1
    }
  done
  STT_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$port/postgres"
  export STT_TEST_POSTGRES_URL
  _stt_pg_answers "$STT_TEST_POSTGRES_URL" || { _stt_fail "the throw-away PostgreSQL does not answer"; return 1; }
  _stt_say "started a throw-away PostgreSQL at $STT_TEST_POSTGRES_URL (data in $_stt_pg_data)"
}

_stt_start_redis() {
  local port dir attempt i
  _stt_make_dir || { _stt_fail "cannot create a temporary directory"; return 1; }
  dir="$_stt_services_dir/redis"
  mkdir -p "$dir" || return 1
  _stt_redis_pidfile="$dir/redis.pid"
  for attempt in 1 2 3; do  # another process may take the free port first
    port=$(_stt_free_port)
    STT_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
    export STT_TEST_REDIS_URL
    redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --daemonize yes \
      --dir "$dir" --pidfile "$_stt_redis_pidfile" --logfile "$dir/redis.log" >/dev/null || continue
    for i in $(seq 50); do
      if _stt_redis_answers "$STT_TEST_REDIS_URL" && [ -s "$_stt_redis_pidfile" ]; then
        _stt_say "started a throw-away Redis at $STT_TEST_REDIS_URL"
        return 0
      fi
      sleep 0.1
    done
  done
  tail -n 20 "$dir/redis.log" >&2 2>/dev/null
  _stt_fail "could not start a throw-away Redis (redis-server --port P --daemonize yes)"
}

start_test_services() {
  : "${STT_TEST_POSTGRES_URL:=postgresql://postgres@127.0.0.1:5432/postgres}"
  : "${STT_TEST_REDIS_URL:=redis://127.0.0.1:6379/0}"
  export STT_TEST_POSTGRES_URL STT_TEST_REDIS_URL
  # The Redis outage tests start their own redis-server, so the binary must exist even when
  # a Redis server answers.
  if ! command -v redis-server >/dev/null 2>&1; then
    _stt_apt_install redis-server || return 1
    command -v redis-server >/dev/null 2>&1 || { _stt_fail "redis-server installed but not on PATH"; return 1; }
  fi
  if ! _stt_pg_answers "$STT_TEST_POSTGRES_URL"; then
    _stt_say "no PostgreSQL answers at $STT_TEST_POSTGRES_URL"
    _stt_start_postgres || return 1
  fi
  if ! _stt_redis_answers "$STT_TEST_REDIS_URL"; then
    _stt_say "no Redis answers at $STT_TEST_REDIS_URL"
    _stt_start_redis || return 1
  fi
}

# 0 while process $1 runs (an exited daemon may linger as a zombie until it is reaped).
_stt_running() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  case "$state" in Z*) return 1 ;; esac
}

stop_test_services() {
  local pid i
  if [ -n "$_stt_pg_data" ] && [ -f "$_stt_pg_data/postmaster.pid" ]; then
    pid=$(head -n 1 "$_stt_pg_data/postmaster.pid")
    _stt_as_pg_user "$_stt_pg_bin/pg_ctl" -D "$_stt_pg_data" -m fast -w -t 30 -s stop >/dev/null 2>&1 \
      || kill -9 "$pid" 2>/dev/null || true
    _stt_say "stopped the throw-away PostgreSQL"
  fi
  if [ -n "$_stt_redis_pidfile" ] && [ -f "$_stt_redis_pidfile" ]; then
    pid=$(cat "$_stt_redis_pidfile")
    kill "$pid" 2>/dev/null || true
    for i in $(seq 100); do
      _stt_running "$pid" || break
      [ "$i" -eq 100 ] && kill -9 "$pid" 2>/dev/null
      sleep 0.1
    done
    _stt_say "stopped the throw-away Redis"
  fi
  if [ -n "$_stt_services_dir" ]; then
    rm -rf "$_stt_services_dir"
  fi
  _stt_services_dir="" _stt_pg_data="" _stt_redis_pidfile=""
}
