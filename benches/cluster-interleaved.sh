#!/bin/bash
# Interleaved cluster-bench runs of two pnswitch builds (old, new, old, new, ...) against one PostgreSQL,
# a fresh database per run, so both builds see the same machine state. Loopback only; bounded by the bind
# counts given. Run it alone: the figures are void while anything else uses the CPU.
#
#   benches/cluster-interleaved.sh OLD_BINARY NEW_BINARY [ROUNDS] [-- cluster-bench arguments]
#
# PG_HOST (default 127.0.0.1), PG_PORT (55432) and PG_USER (postgres) name a running server where PG_USER may
# create databases (e.g. a cluster started by hand with fsync on); the databases are dropped and recreated
# as pn_interleaved_<build>_<round>. Needs target/release/cluster-bench (cargo build --release -p pn-benches).
set -euo pipefail
old=${1:?old binary}; new=${2:?new binary}; rounds=${3:-2}
shift $(( $# >= 3 ? 3 : $# ))
[ "${1:-}" = "--" ] && shift
extra=("$@")
[ ${#extra[@]} -eq 0 ] && extra=(--latency-binds 2000 --binds 20000)
host=${PG_HOST:-127.0.0.1}; port=${PG_PORT:-55432}; user=${PG_USER:-postgres}
cd "$(dirname "$0")/.."
for round in $(seq 1 "$rounds"); do
  for build in old new; do
    bin=$old; [ "$build" = new ] && bin=$new
    db=pn_interleaved_${build}_${round}
    # A fresh database, and the previous run's dirty pages written out first (a checkpoint during a run
    # would stall it).
    psql -h "$host" -p "$port" -U "$user" -d postgres -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" \
      -c "CHECKPOINT" 2>&1 | grep -v NOTICE || true
    echo "=== $build round $round ($bin)"
    target/release/cluster-bench --binary "$bin" --postgres-url "postgres://$user@$host:$port/$db" "${extra[@]}" \
      | grep -E "routable|bind latency|binds/s|check|never"
  done
done
