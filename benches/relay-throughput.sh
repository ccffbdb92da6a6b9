#!/usr/bin/env bash
# Relay throughput, side by side, in one run (issue: relay core benchmark):
#   (c) smtp-source straight into Postfix's smtp-sink — the ceiling of this machine;
#   (a) smtp-source → sluice (smarthost mode, durable spool) → smtp-sink;
#   (b) smtp-source → a private Postfix instance relaying → smtp-sink.
# Then, for sluice: p99 latency from end-of-data to 250 at half its peak rate, peak RSS, and
# RSS with 1,000 idle connections open. Writes benches/results.md and prints it.
#
# Needs root (it installs postfix with "No configuration" if absent and runs a private
# instance under a temporary directory). Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
N=${N:-20000}          # messages per run
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-5120}
SINK=${SINK_PORT:-32001}
SLUICE=${SLUICE_PORT:-32025}
PF=${POSTFIX_PORT:-32026}
work=$(mktemp -d /tmp/sluice-bench.XXXXXX)
chmod 755 "$work"   # the Postfix instance runs as user postfix
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -f "$work/pf/conf/main.cf" ] && postfix -c "$work/pf/conf" stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

if ! command -v smtp-source >/dev/null || ! command -v postfix >/dev/null; then
    echo "installing postfix (no configuration) for smtp-source, smtp-sink and the comparison relay"
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
fi
cargo build --release -p sluice
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

source "$repo/benches/lib.sh"

echo "== (c) smtp-sink alone"
start_sink
read -r sink_rate _ < <(load "$SINK")

echo "== (a) sluice, smarthost mode"
mkdir -p "$work/sluice"
# Its admin and application APIs on ports of their own, not the defaults another relay on
# this machine may hold.
sluice_config "$SLUICE" "$work/sluice/spool" "[admin]
listen = \"127.0.0.1:$(( SLUICE + 2 ))\"
[api]
listen = \"127.0.0.1:$(( SLUICE + 3 ))\"" >"$work/sluice/sluice.toml"
start_sink
SLUICE_LOG=warn "$repo/target/release/sluice" serve --config "$work/sluice/sluice.toml" 2>"$work/sluice/log" &
sluice_pid=$!; pids+=("$sluice_pid")
wait_port "$SLUICE"
read -r sluice_accept sluice_e2e < <(load "$SLUICE")
sluice_cpu=$(awk '{print ($14+$15)/100}' "/proc/$sluice_pid/stat")
peak_rss=$(awk '/VmHWM/ {print $2}' "/proc/$sluice_pid/status")
half=$(( sluice_e2e / 2 ))
echo "== latency at half of sluice's peak ($half msg/s)"
start_sink
latency=$(python3 "$repo/benches/latency.py" --port "$SLUICE" --rate "$half" --count $(( half * 10 )) --conns "$SESSIONS" --size "$SIZE")
echo "$latency"
rss_before=$(awk '/VmRSS/ {print $2}' "/proc/$sluice_pid/status")
coproc IDLE { python3 "$repo/benches/idle.py" "$SLUICE" 1000; }
read -r _ opened <&"${IDLE[0]}"
rss_idle=$(awk '/VmRSS/ {print $2}' "/proc/$sluice_pid/status")
eval "exec ${IDLE[1]}>&-"
wait "$IDLE_PID" 2>/dev/null || true
kill "$sluice_pid"; wait "$sluice_pid" 2>/dev/null || true

echo "== (b) Postfix relay"
mkdir -p "$work/pf/conf" "$work/pf/queue" "$work/pf/data"
chown postfix "$work/pf/data"
sed "s/^smtp      inet  n       -       y       -       -       smtpd/127.0.0.1:$PF inet n - y - - smtpd/" /etc/postfix/master.cf >"$work/pf/conf/master.cf"
cat >"$work/pf/conf/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $work/pf/queue
data_directory = $work/pf/data
meta_directory = /etc/postfix
myhostname = pfbench.local
mydestination =
inet_interfaces = 127.0.0.1
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$SINK
smtpd_relay_restrictions = permit_mynetworks, reject
maillog_file = $work/pf/maillog
maillog_file_prefixes = /tmp
default_process_limit = 100
CONF
# postfix(1) accepts a private config directory only if the default main.cf names it.
touch /etc/postfix/main.cf
if ! grep -q "^alternate_config_directories" /etc/postfix/main.cf; then
    echo "alternate_config_directories = $work/pf/conf" >>/etc/postfix/main.cf
else
    sed -i "s|^alternate_config_directories.*|alternate_config_directories = $work/pf/conf|" /etc/postfix/main.cf
fi
start_sink
postfix -c "$work/pf/conf" start
wait_port "$PF"
read -r pf_accept pf_e2e < <(load "$PF")
postfix -c "$work/pf/conf" stop >/dev/null 2>&1 || true

p99=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['p99_ms'])" "$latency")
achieved=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['achieved_rate'])" "$latency")
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
{
echo "Run: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $N messages of $SIZE bytes, smtp-source -s $SESSIONS (one message per connection)."
echo
echo "| path | accepted msg/s | delivered msg/s (end to end) | vs Postfix (delivered) | vs smtp-sink alone |"
echo "|---|---|---|---|---|"
echo "| (c) smtp-sink alone | $sink_rate | $sink_rate | $(ratio "$sink_rate" "$pf_e2e") | 1.00 |"
echo "| (a) sluice → smtp-sink | $sluice_accept | $sluice_e2e | $(ratio "$sluice_e2e" "$pf_e2e") | $(ratio "$sluice_e2e" "$sink_rate") |"
echo "| (b) Postfix → smtp-sink | $pf_accept | $pf_e2e | 1.00 | $(ratio "$pf_e2e" "$sink_rate") |"
echo
echo "| sluice | value |"
echo "|---|---|"
echo "| CPU seconds for the $N-message run | $sluice_cpu |"
echo "| p99 end-of-data → 250 at $achieved msg/s (half of peak) | $p99 ms |"
echo "| latency detail | \`$latency\` |"
echo "| peak RSS | $(( peak_rss / 1024 )) MiB |"
echo "| RSS before / with $opened idle connections | $(( rss_before / 1024 )) MiB / $(( rss_idle / 1024 )) MiB |"
} | tee "$repo/benches/results.md"
