#!/usr/bin/env bash
# Two relay nodes sharing state through one Redis server (issue #15), in one run:
#   messages/s through one node alone (no [cluster]), one node with [cluster], and two nodes
#   with [cluster] taking half of the load each, all delivering into one Postfix smtp-sink;
#   Redis round trips per message (INFO commandstats, reset before each clustered phase);
#   the DATA→250 latency at a fixed paced rate with [cluster] off and on.
# The shared state: the tenant's suppression list, looked up at every RCPT (one HGET,
# host/src/suppress/shared.rs), and a volume-limits plugin counter, counted at every DATA (one
# script call, host/src/cluster.rs) against a limit too high to trip. Every phase runs the same
# plugin, so the differences are the cluster's. Writes benches/results-cluster.md and prints it.
#
# Needs smtp-source/smtp-sink (apt-get install postfix, "No configuration"), redis-server and
# the shipped plugins (make plugins). Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
N=${N:-10000}          # messages per throughput phase
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-5120}
RATE=${RATE:-300}      # paced rate of the latency phases (msg/s)
LAT_COUNT=${LAT_COUNT:-3000}
SINK=${SINK_PORT:-32101}
REDIS=${REDIS_PORT:-32179}
A=${A_PORT:-32125}
B=${B_PORT:-32126}
work=$(mktemp -d /tmp/sluice-cluster-bench.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

command -v smtp-source >/dev/null || { echo "smtp-source missing: apt-get install postfix" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server missing" >&2; exit 1; }
plugin="$repo/target/wasm32-wasip2/release/volume_limits.wasm"
[ -f "$plugin" ] || { echo "$plugin missing: make plugins" >&2; exit 1; }
cargo build --release -p sluice
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
source "$repo/benches/lib.sh"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

redis-server --bind 127.0.0.1 --port "$REDIS" --save "" --appendonly no >"$work/redis.log" 2>&1 &
pids+=("$!")
wait_port "$REDIS"
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS" "$@"; }
# Calls since the last reset, every command but the INFO that reads them.
redis_calls() {
    rcli INFO commandstats | tr -d '\r' |
        awk -F'[:=,]' '/^cmdstat_/ && $1 != "cmdstat_info" && $1 != "cmdstat_config" {n += $3} END {print n + 0}'
}

# node NAME PORT CLUSTER(0/1): starts a relay; its pid in $node_pid.
node() {
    local dir="$work/$1" admin=$(( $2 + 1000 ))
    mkdir -p "$dir"
    {
        sluice_config "$2" "$dir/spool" "$(printf '[[tenant.plugin]]\nname = "volume-limits"\npath = "%s"\n[tenant.plugin.config]\nmessages_per_minute = 1000000000\n' "$plugin")"
        printf '[admin]\nlisten = "127.0.0.1:%s"\n' "$admin"
        [ "$3" = 1 ] && printf '[cluster]\nredis = "redis://127.0.0.1:%s/0"\ntimeout = "1s"\n' "$REDIS"
    } >"$dir/sluice.toml"
    SLUICE_LOG=warn "$repo/target/release/sluice" serve --config "$dir/sluice.toml" 2>"$dir/log" &
    node_pid=$!; pids+=("$node_pid")
    wait_port "$2"
}
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }

# Throughput through one node: "accepted/s delivered/s".
echo "== one node, no [cluster]"
start_sink
node off "$A" 0; off=$node_pid
read -r off_accept off_e2e < <(load "$A")
echo "== latency at $RATE msg/s, no [cluster]"
lat_off=$(python3 "$repo/benches/latency.py" --port "$A" --rate "$RATE" --count "$LAT_COUNT" --conns "$SESSIONS" --size "$SIZE")
echo "$lat_off"
stop "$off"

echo "== one node, [cluster]"
start_sink
node one "$A" 1; one=$node_pid
rcli CONFIG RESETSTAT >/dev/null
read -r one_accept one_e2e < <(load "$A")
one_calls=$(redis_calls)
echo "== latency at $RATE msg/s, [cluster]"
lat_on=$(python3 "$repo/benches/latency.py" --port "$A" --rate "$RATE" --count "$LAT_COUNT" --conns "$SESSIONS" --size "$SIZE")
echo "$lat_on"

echo "== two nodes, [cluster], half of the sessions each"
start_sink
node two "$B" 1; two=$node_pid
rcli CONFIG RESETSTAT >/dev/null
half=$(( N / 2 ))
t0=$(now)
smtp-source -s $(( SESSIONS / 2 )) -l "$SIZE" -m "$half" -f bench@example.com -t sink@dest.test "127.0.0.1:$A" &
sa=$!
smtp-source -s $(( SESSIONS / 2 )) -l "$SIZE" -m "$(( N - half ))" -f bench@example.com -t sink@dest.test "127.0.0.1:$B" &
sb=$!
wait "$sa" "$sb"
t1=$(now)
wait_sink "$N"
t2=$(now)
two_calls=$(redis_calls)
read -r two_accept two_e2e < <(python3 -c "print(f'{$N/($t1-$t0):.0f} {$N/($t2-$t0):.0f}')")
stop "$one"; stop "$two"
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])['$2'])" "$1"; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
per() { python3 -c "print(f'{$1/$2:.2f}')"; }
{
echo "Run: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $load_start at start and $load_end at the end;"
echo "$N messages of $SIZE bytes per phase, one recipient each, smtp-source -s $SESSIONS (one message per"
echo "connection; two nodes: -s $(( SESSIONS / 2 )) against each), one smtp-sink, Redis $(redis-server --version | grep -o 'v=[0-9.]*' | cut -d= -f2) on loopback."
echo
echo "| path | accepted msg/s | delivered msg/s | vs one node without [cluster] | Redis calls per message |"
echo "|---|---|---|---|---|"
echo "| one node, no [cluster] | $off_accept | $off_e2e | 1.00 | 0 |"
echo "| one node, [cluster] | $one_accept | $one_e2e | $(ratio "$one_e2e" "$off_e2e") | $(per "$one_calls" "$N") |"
echo "| two nodes, [cluster] | $two_accept | $two_e2e | $(ratio "$two_e2e" "$off_e2e") | $(per "$two_calls" "$N") |"
echo
echo "| DATA → 250 at $RATE msg/s ($LAT_COUNT messages, $SESSIONS connections) | p50 ms | p90 ms | p99 ms | max ms |"
echo "|---|---|---|---|---|"
echo "| no [cluster] | $(field "$lat_off" p50_ms) | $(field "$lat_off" p90_ms) | $(field "$lat_off" p99_ms) | $(field "$lat_off" max_ms) |"
echo "| [cluster] | $(field "$lat_on" p50_ms) | $(field "$lat_on" p90_ms) | $(field "$lat_on" p99_ms) | $(field "$lat_on" max_ms) |"
} | tee "$repo/benches/results-cluster.md"
