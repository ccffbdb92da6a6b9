#!/usr/bin/env bash
# Delivery throughput through MX routing, in one run (issue: outbound delivery benchmark):
# smtp-source → sluice (mode = "mx": MX lookup in a local DNS server, dnslib) → smtp-sink
# as the MX host on 127.0.0.2, unsigned, signed with ed25519-sha256, and signed with
# rsa-sha256 (2048-bit). Delivered messages/s end to end and the cost of signing relative
# to unsigned. Appends its table to benches/results-delivery.md and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
N=${N:-10000}
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-5120}
SINK=${SINK_PORT:-32101}
SLUICE=${SLUICE_PORT:-32125}
DNS=${DNS_PORT:-32153}
work=$(mktemp -d /tmp/sluice-dbench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

if ! command -v smtp-source >/dev/null; then
    echo "installing postfix (no configuration) for smtp-source and smtp-sink"
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
fi
python3 -c 'import dnslib' 2>/dev/null || python3 -m pip install --quiet dnslib
cargo build --release -p sluice
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
source "$repo/benches/lib.sh"
bin="$repo/target/release/sluice"

# The MX host: smtp-sink on 127.0.0.2 (load() waits on $work/sink.out).
start_mx_sink() {
    [ -n "${sink_pid:-}" ] && kill "$sink_pid" 2>/dev/null && wait "$sink_pid" 2>/dev/null || true
    smtp-sink -c -u nobody "127.0.0.2:$SINK" 1000 >"$work/sink.out" 2>&1 &
    sink_pid=$!; pids+=("$sink_pid")
    for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.2/$SINK") 2>/dev/null && return 0; sleep 0.05; done
    echo "sink never opened" >&2; exit 1
}

echo '{"dest.test": [{"type": "MX", "pref": 10, "value": "mx.dest.test"}], "mx.dest.test": [{"type": "A", "value": "127.0.0.2"}]}' >"$work/zone.json"
# The DNS server runs until its stdin closes: hold a FIFO open on fd 7 for the whole run.
mkfifo "$work/dns.in"
python3 "$repo/tests/tools/dns.py" --port "$DNS" --zone "$work/zone.json" <"$work/dns.in" >/dev/null &
pids+=($!)
exec 7>"$work/dns.in"
sleep 1

"$bin" dkim keygen example.com ed --algorithm ed25519 --out "$work/ed.pem" >/dev/null
"$bin" dkim keygen example.com rsa --algorithm rsa2048 --out "$work/rsa.pem" >/dev/null

config() {  # config SPOOL [DKIM-TABLE]
    cat <<CONF
[server]
hostname = "bench.local"
listen = ["127.0.0.1:$SLUICE"]
listen_tls = []
max_connections = 5000
max_connections_per_ip = 5000
[spool]
dir = "$1"
[tls]
generated_dir = "$work/tls"
[plugins]
cache_dir = "$work/plugin-cache"
[dns]
nameservers = ["127.0.0.1:$DNS"]
[delivery]
mode = "mx"
mx_port = $SINK
tls = "none"
concurrency = 20
per_destination = 20
[[tenant]]
name = "bench"
sender_domains = ["example.com"]
trusted_networks = ["127.0.0.0/8"]
${2:-}
CONF
}

run() {  # run NAME [DKIM-TABLE] → "accepted/s delivered/s"
    mkdir -p "$work/$1"
    config "$work/$1/spool" "${2:-}" >"$work/$1/sluice.toml"
    start_mx_sink
    SLUICE_LOG=warn "$bin" serve --config "$work/$1/sluice.toml" 2>"$work/$1/log" &
    local p=$!; pids+=("$p")
    wait_port "$SLUICE"
    load "$SLUICE"
    kill "$p"; wait "$p" 2>/dev/null || true
}

key() { printf '[[tenant.dkim]]\ndomain = "example.com"\nselector = "%s"\nkey = "%s"\n' "$1" "$2"; }

# Each run in this shell (not a subshell), so cleanup knows every process it started.
echo "== unsigned"; run unsigned >"$work/r.unsigned"; read -r _ unsigned <"$work/r.unsigned"
echo "== ed25519-sha256"; run ed "$(key ed "$work/ed.pem")" >"$work/r.ed"; read -r _ ed <"$work/r.ed"
echo "== rsa-sha256 (2048)"; run rsa "$(key rsa "$work/rsa.pem")" >"$work/r.rsa"; read -r _ rsa <"$work/r.rsa"
kill "$sink_pid" 2>/dev/null || true

cost() { python3 -c "print(f'{(1 - $1/$2) * 100:.1f}%')"; }
{
echo "Run: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $N messages of $SIZE bytes, smtp-source -s $SESSIONS, MX lookup in a local DNS server, smtp-sink as the MX."
echo
echo "| signing | delivered msg/s (end to end) | cost vs unsigned |"
echo "|---|---|---|"
echo "| none | $unsigned | — |"
echo "| ed25519-sha256 | $ed | $(cost "$ed" "$unsigned") |"
echo "| rsa-sha256, 2048-bit | $rsa | $(cost "$rsa" "$unsigned") |"
} | tee "$repo/benches/results-delivery.md"
