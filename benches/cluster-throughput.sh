#!/usr/bin/env bash
# Two relay nodes sharing state through one Redis server (issue #15), in one run:
#   messages/s through one node alone (no [cluster]), one node with [cluster], and two nodes
#   with [cluster] taking half of the load each, all delivering into one Postfix smtp-sink;
#   Redis round trips per message (INFO commandstats, reset before each clustered phase);
#   the DATA→250 latency at a fixed paced rate with [cluster] off and on. All three nodes run
#   at once and the phases alternate, ROUNDS times, so the machine's drift hits them alike.
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
LAT_COUNT=${LAT_COUNT:-1500}
SINK=${SINK_PORT:-32101}
REDIS=${REDIS_PORT:-32179}
A=${A_PORT:-32125}
B=${B_PORT:-32126}
C=${C_PORT:-32127}
ROUNDS=${ROUNDS:-3}
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
[ -n "${NO_BUILD:-}" ] || cargo build --release -p sluice
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
source "$repo/benches/lib.sh"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

redis-server --bind 127.0.0.1 --port "$REDIS" --save "" --appendonly no >"$work/redis.log" 2>&1 &
pids+=("$!")
wait_port "$REDIS"
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS" "$@"; }
# Round trips since the last reset: the commands a node sends (commandstats also counts the
# commands its scripts run on the server — TIME, HGETALL, HINCRBY, EXPIRE — listed apart).
redis_calls() {
    rcli INFO commandstats | tr -d '\r' |
        awk -F'[:=,]' '$1 ~ /^cmdstat_(evalsha|eval|hget|get|set|script)$/ {n += $3} END {print n + 0}'
}

# node NAME PORT CLUSTER(0/1): starts a relay; its pid in $node_pid.
node() {
    local dir="$work/$1" admin=$(( $2 + 1000 ))
    mkdir -p "$dir"
    {
        sluice_config "$2" "$dir/spool" "$(printf '[[tenant.plugin]]\nname = "volume-limits"\npath = "%s"\n[tenant.plugin.config]\nmessages_per_minute = 1000000000\n' "$plugin")"
        printf '[admin]\nlisten = "127.0.0.1:%s"\n[api]\nlisten = "127.0.0.1:%s"\n' "$admin" $(( $2 + 2000 ))
        [ "$3" = 1 ] && printf '[cluster]\nredis = "redis://127.0.0.1:%s/0"\ntimeout = "1s"\n' "$REDIS"
    } >"$dir/sluice.toml"
    SLUICE_LOG=warn "$repo/target/release/sluice" serve --config "$dir/sluice.toml" 2>"$dir/log" &
    node_pid=$!; pids+=("$node_pid")
    # Compiling the plugin takes a while on a loaded machine (then it is cached).
    for _ in $(seq 1200); do (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0; sleep 0.1; done
    echo "node $1 never listened on $2:" >&2; cat "$dir/log" >&2; exit 1
}

# phase PORT... → "accepted/s delivered/s": N messages split over the ports, in parallel.
phase() {
    local base t0 t1 t2 each=$(( N / $# )) sessions=$(( SESSIONS / $# )) jobs=()
    base=$(sink_count)
    t0=$(now)
    for port in "$@"; do
        smtp-source -s "$sessions" -l "$SIZE" -m "$each" -f bench@example.com -t sink@dest.test "127.0.0.1:$port" &
        jobs+=("$!")
    done
    wait "${jobs[@]}"
    t1=$(now)
    wait_sink $(( base + each * $# ))
    t2=$(now)
    python3 -c "print(f'{$each*$#/($t1-$t0):.0f} {$each*$#/($t2-$t0):.0f}')"
}

start_sink
node off "$A" 0
node one "$B" 1
node two "$C" 1
# Warm-up: every node compiles nothing more, opens its connections to the sink and to Redis.
N_SAVED=$N; N=200; phase "$A" >/dev/null; phase "$B" >/dev/null; phase "$C" >/dev/null; N=$N_SAVED

# The machine's speed drifts with other work: the configurations alternate, round by round.
rows=()
lat_rows=()
for round in $(seq "$ROUNDS"); do
    echo "== round $round: throughput"
    read -r off_a off_d < <(phase "$A")
    rcli CONFIG RESETSTAT >/dev/null
    read -r one_a one_d < <(phase "$B")
    one_calls=$(redis_calls)
    # Which commands, for the last round's one-node phase.
    rcli INFO commandstats | tr -d '\r' | awk -F'[:=,]' -v n="$N" \
        '/^cmdstat_/ && $1 != "cmdstat_info" && $1 != "cmdstat_config" {sub("cmdstat_", "", $1); printf "%s%s %.2f", sep, $1, $3 / n; sep = ", "}' >"$work/commands"
    rcli CONFIG RESETSTAT >/dev/null
    read -r two_a two_d < <(phase "$B" "$C")
    two_calls=$(redis_calls)
    rows+=("$round $off_a $off_d $one_a $one_d $one_calls $two_a $two_d $two_calls")
    echo "== round $round: latency at $RATE msg/s"
    lat_off=$(python3 "$repo/benches/latency.py" --port "$A" --rate "$RATE" --count "$LAT_COUNT" --conns "$SESSIONS" --size "$SIZE")
    lat_on=$(python3 "$repo/benches/latency.py" --port "$B" --rate "$RATE" --count "$LAT_COUNT" --conns "$SESSIONS" --size "$SIZE")
    echo "$lat_off"; echo "$lat_on"
    lat_rows+=("$round|$lat_off|$lat_on")
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

printf '%s\n' "${rows[@]}" >"$work/rows"
printf '%s\n' "${lat_rows[@]}" >"$work/lat"
{
echo "Run: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $load_start at start and $load_end at the end;"
echo "$ROUNDS rounds, the configurations alternating within each; $N messages of $SIZE bytes per phase, one"
echo "recipient each, smtp-source -s $SESSIONS in all (one message per connection; two nodes: half the sessions and"
echo "half the messages each), one smtp-sink, Redis $(redis-server --version | grep -o 'v=[0-9.]*' | cut -d= -f2) on loopback, \`timeout = \"1s\"\`."
echo
python3 - "$work/rows" "$work/lat" "$N" "$RATE" "$LAT_COUNT" "$SESSIONS" "$work/commands" <<'PY'
import json, statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
lat = [l.strip().split("|") for l in open(sys.argv[2]) if l.strip()]
n, rate, count, sessions = int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
med = lambda i: statistics.median(r[i] for r in rows)
print("| path (median of the rounds) | accepted msg/s | delivered msg/s | delivered vs one node without [cluster] | Redis round trips per message |")
print("|---|---|---|---|---|")
print(f"| one node, no [cluster] | {med(1):.0f} | {med(2):.0f} | 1.00 | 0 |")
print(f"| one node, [cluster] | {med(3):.0f} | {med(4):.0f} | {statistics.median(r[4]/r[2] for r in rows):.2f} | {statistics.median(r[5]/n for r in rows):.2f} |")
print(f"| two nodes, [cluster] | {med(6):.0f} | {med(7):.0f} | {statistics.median(r[7]/r[2] for r in rows):.2f} | {statistics.median(r[8]/n for r in rows):.2f} |")
print()
print("Redis commands per message on the server, scripts' commands included, one node with [cluster] (last round): " + open(sys.argv[7]).read().strip() + ".")
print()
print("Each round (delivered msg/s): " + "; ".join(
    f"{int(r[0])}: {r[2]:.0f} / {r[4]:.0f} / {r[7]:.0f}" for r in rows) + " (no cluster / one node / two nodes).")
print()
print(f"| DATA → 250 at {rate} msg/s ({count} messages, {sessions} connections), round | p50 ms off → on | p90 ms off → on | p99 ms off → on |")
print("|---|---|---|---|")
for rnd, off, on in lat:
    off, on = json.loads(off), json.loads(on)
    print(f"| {rnd} | {off['p50_ms']} → {on['p50_ms']} | {off['p90_ms']} → {on['p90_ms']} | {off['p99_ms']} → {on['p99_ms']} |")
p50 = statistics.median(json.loads(on)["p50_ms"] - json.loads(off)["p50_ms"] for _, off, on in lat)
print()
print(f"Median added p50 DATA → 250 with [cluster]: {p50:+.2f} ms.")
PY
} | tee "$repo/benches/results-cluster.md"
