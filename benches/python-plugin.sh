#!/usr/bin/env bash
# One Python plugin in the relay (issue #13): first-load time (compiling the component, no
# cache) and again from the compiled cache; the relay's RSS and PSS after loading and after
# $N messages through the plugin (`smtp-source -d -s $SESSIONS`, each message checked by the
# plugin's data hook, instances kept between transactions: `instance = "reuse"`), with the
# share of it that is the compiled code and the instances' memory images (mappings of the
# cache file). Writes benches/results-python.md and prints it.
#
# Needs smtp-source/smtp-sink (see relay-throughput.sh) and target/python/keyword_policy.wasm
# (`make plugins`). BIN=target/debug/sluice measures another build.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
N=${N:-2000}
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-5000}
SINK=${SINK_PORT:-32301}
PORT=${SLUICE_PORT:-32325}
ADMIN=${ADMIN_PORT:-32326}
BIN=${BIN:-target/release/sluice}
case $BIN in /*) bin=$BIN;; *) bin="$repo/$BIN";; esac
SOURCE_FLAGS=-d
LOAD0=$(cut -d" " -f1-3 /proc/loadavg)
work=$(mktemp -d /tmp/sluice-python.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
source "$repo/benches/lib.sh"
plugin="$repo/target/python/keyword_policy.wasm"
[ -f "$plugin" ] || { echo "run make plugins first" >&2; exit 1; }

sluice_config "$PORT" "$work/spool" "
[[tenant.plugin]]
name = \"keyword\"
path = \"$plugin\"
timeout = \"5s\"
[tenant.plugin.config]
keywords = \"casino,crypto\"
[admin]
listen = \"127.0.0.1:$ADMIN\"
[api]
listen = \"127.0.0.1:$((ADMIN + 1))\"" >"$work/py.toml"

kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
# PSS of the whole process, and RSS of the mappings of the compiled-plugin cache file.
pss() { awk '/^Pss:/ {s += $2} END {print s}' "/proc/$1/smaps"; }
cwasm_rss() { awk '/^[0-9a-f]+-[0-9a-f]+ / {f = ($6 ~ /\.cwasm$/)} f && /^Rss:/ {s += $2} END {print s + 0}' "/proc/$1/smaps"; }
mib() { echo $(( $1 / 1024 )); }

# start NAME → the relay running as $pid, and $secs: seconds until its plugin was loaded
start() {
    local t0 t1
    t0=$(now)
    SLUICE_LOG=info "$bin" serve --config "$work/py.toml" >"$work/$1.log" 2>&1 &
    pid=$!; pids+=("$pid")
    until grep -q "plugin loaded" "$work/$1.log"; do
        kill -0 "$pid" 2>/dev/null || { cat "$work/$1.log" >&2; exit 1; }
        sleep 0.1
    done
    t1=$(now)
    wait_port "$PORT"
    secs=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
}

start cold; cold=$secs
cold_rss=$(kib "$pid" VmRSS); cold_hwm=$(kib "$pid" VmHWM)
kill "$pid"; wait "$pid" 2>/dev/null || true
start warm; warm=$secs
warm_rss=$(kib "$pid" VmRSS)
start_sink
read -r accepted _ < <(load "$PORT")
after_rss=$(kib "$pid" VmRSS); after_hwm=$(kib "$pid" VmHWM); after_pss=$(pss "$pid"); after_cwasm=$(cwasm_rss "$pid")
instances=$(grep -c '\.cwasm$' "/proc/$pid/maps")
failed=$(grep -c plugin_failed "$work/warm.log" || true)
kill "$pid"; wait "$pid" 2>/dev/null || true
{
echo "Run: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores (load average before: $LOAD0), $BIN, keyword_policy.wasm ($(( $(stat -c %s "$plugin") / 1024 / 1024 )) MiB), $N messages of $SIZE bytes, smtp-source -d -s $SESSIONS."
echo
echo "| measure | value |"
echo "|---|---|"
echo "| first load, compiling (no cache) | $cold s |"
echo "| RSS after that load (peak during it) | $(mib "$cold_rss") MiB ($(mib "$cold_hwm") MiB) |"
echo "| load from the compiled cache | $warm s |"
echo "| RSS after loading from the cache | $(mib "$warm_rss") MiB |"
echo "| accepted msg/s through the plugin | $accepted |"
echo "| RSS after the messages (peak) | $(mib "$after_rss") MiB ($(mib "$after_hwm") MiB) |"
echo "| of which the $instances mappings of the compiled file (its code, and each instance slot's memory image; a shared page counts in each) | $(mib "$after_cwasm") MiB |"
echo "| PSS after the messages (shared pages divided among their mappings) | $(mib "$after_pss") MiB |"
echo "| plugin failures | $failed |"
} | tee "$repo/benches/results-python.md"
