#!/usr/bin/env bash
# Relay throughput with the four shipped plugins against none, in one run (issue #13, the
# number it is judged by): `smtp-source -d -s 20 -m $N -l 5000` → sluice (smarthost mode,
# durable spool) → smtp-sink, for a tenant with
#   none    no plugin;
#   reuse   volume-limits, content-filter, marketing-detector and router, `instance = "reuse"`
#           (the default: warm instances kept between the tenant's transactions);
#   fresh   the same four with `instance = "fresh"` (a new instance per transaction).
# The chains alternate ROUNDS times (this VM's speed drifts within minutes); each round reports
# delivered msg/s, the ratio to `none` of the same round, the relay's own CPU per message
# (user + system from /proc/PID/stat over the load) and its peak RSS. Writes
# benches/results-shipped.md and prints it.
#
# Needs smtp-source/smtp-sink (see relay-throughput.sh) and the plugins (`make plugins`).
# BIN=target/debug/sluice NO_BUILD=1 runs another build. PERF=reuse (or none, fresh) records `perf record -g` of that chain's relay in the last round
# into $PERF_OUT (default /tmp/sluice-shipped.perf.data).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
N=${N:-20000}
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-5000}
SINK=${SINK_PORT:-32201}
PORT=${SLUICE_PORT:-32225}
ADMIN=${ADMIN_PORT:-32226}
ROUNDS=${ROUNDS:-3}
BIN=${BIN:-target/release/sluice}
case $BIN in /*) bin=$BIN;; *) bin="$repo/$BIN";; esac
CHAINS=${CHAINS:-none reuse fresh}
SOURCE_FLAGS=-d
LOAD0=$(cut -d" " -f1-3 /proc/loadavg)
work=$(mktemp -d /tmp/sluice-shipped.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
source "$repo/benches/lib.sh"

[ -n "${NO_BUILD:-}" ] || cargo build --release -p sluice
plugins="$repo/target/wasm32-wasip2/release"
[ -f "$plugins/marketing_detector.wasm" ] || { echo "run make plugins first" >&2; exit 1; }

# Configs that let every message through, so each plugin does its whole work on each one:
# volume-limits counts (far below its limits), content-filter scores, the detector tags, the
# router matches no rule (smtp-source's recipient domain) and answers the default route.
shipped="
[[tenant.plugin]]
name = \"volume-limits\"
path = \"$plugins/volume_limits.wasm\"
[tenant.plugin.config]
messages_per_minute = 100000000
recipients_per_day = 1000000000
domain_recipients_per_hour = 1000000000
[[tenant.plugin]]
name = \"content-filter\"
path = \"$plugins/content_filter.wasm\"
[tenant.plugin.config]
blocked_link_domains = \"evil.example\"
protected_domains = \"example.com\"
mode = \"score\"
[[tenant.plugin]]
name = \"marketing-detector\"
path = \"$plugins/marketing_detector.wasm\"
[tenant.plugin.config]
action = \"tag\"
[[tenant.plugin]]
name = \"router\"
path = \"$plugins/router.wasm\"
[tenant.plugin.config]
rules = \"\"\"
domain=partner.example => smarthost relay.partner.example:587 tls=required
sender-domain=staging.shop.example => hold
\"\"\"
"
fresh=$(printf '%s\n' "$shipped" | sed 's/^path = .*/&\ninstance = "fresh"/')

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tick_us=$(python3 -c "import os; print(1e6 / os.sysconf('SC_CLK_TCK'))")
per_msg() { python3 -c "print(f'{$1 * $tick_us / $N:.0f}')"; }
median_of() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
header="| round |"; sep="|---|"
for c in $CHAINS; do header+=" $c msg/s |"; sep+="---|"; [ "$c" = none ] || { header+=" ratio |"; sep+="---|"; }; done
for c in $CHAINS; do header+=" CPU µs/msg $c |"; sep+="---|"; done
for c in $CHAINS; do header+=" peak RSS MiB $c |"; sep+="---|"; done
rows=""
declare -A ratios extras
for round in $(seq "$ROUNDS"); do
    declare -A rate cpu rss
    for chain in $CHAINS; do
        case $chain in none) tables="";; reuse) tables=$shipped;; fresh) tables=$fresh;; esac
        sluice_config "$PORT" "$work/spool-$chain-$round" "$tables
[admin]
listen = \"127.0.0.1:$ADMIN\"
[api]
listen = \"127.0.0.1:$((ADMIN + 1))\"" >"$work/$chain.toml"
        start_sink
        SLUICE_LOG=warn "$bin" serve --config "$work/$chain.toml" 2>"$work/$chain.log" &
        pid=$!; pids+=("$pid")
        # Loading compiles the plugins the first time (then from the cache): up to minutes.
        for _ in $(seq 3000); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
        wait_port "$PORT"
        perf_pid=""
        if [ "${PERF:-}" = "$chain" ] && [ "$round" = "$ROUNDS" ]; then
            perf record -g -F 999 -p "$pid" -o "${PERF_OUT:-/tmp/sluice-shipped.perf.data}" 2>"$work/perf.log" &
            perf_pid=$!
        fi
        cpu0=$(cpu_ticks "$pid")
        read -r _ e2e < <(load "$PORT")
        rate[$chain]=$e2e
        cpu[$chain]=$(( $(cpu_ticks "$pid") - cpu0 ))
        rss[$chain]=$(( $(awk '/VmHWM/ {print $2}' "/proc/$pid/status") / 1024 ))
        [ -z "$perf_pid" ] || { kill -INT "$perf_pid"; wait "$perf_pid" || true; }
        kill "$pid"; wait "$pid" 2>/dev/null || true
        if grep -q 'plugin_failed' "$work/$chain.log"; then
            echo "chain $chain: a plugin failed:" >&2; grep -m3 'plugin_failed' "$work/$chain.log" >&2; exit 1
        fi
    done
    row="| $round |"
    for c in $CHAINS; do
        row+=" ${rate[$c]} |"
        if [ "$c" != none ] && [ -n "${rate[none]:-}" ]; then
            r=$(python3 -c "print(f'{${rate[$c]}/${rate[none]}:.2f}')")
            row+=" $r |"; ratios[$c]+="$r "
            extras[$c]+="$(( $(per_msg "${cpu[$c]}") - $(per_msg "${cpu[none]}") )) "
        elif [ "$c" != none ]; then row+=" - |"; fi
    done
    for c in $CHAINS; do row+=" $(per_msg "${cpu[$c]}") |"; done
    for c in $CHAINS; do row+=" ${rss[$c]} |"; done
    rows+="$row"$'\n'
done
{
echo "Run: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores (load average before: $LOAD0), $N messages of $SIZE bytes, smtp-source -d -s $SESSIONS, sluice → smtp-sink."
echo
echo "$header"
echo "$sep"
printf '%s' "$rows"
echo
for c in $CHAINS; do
    [ "$c" = none ] && continue
    [ -n "${ratios[$c]:-}" ] || continue
    # shellcheck disable=SC2086
    echo "- $c: median ratio **$(median_of ${ratios[$c]})**, the plugins' median cost in relay CPU **$(median_of ${extras[$c]}) µs per message**."
done
} | tee "$repo/benches/results-shipped.md"
