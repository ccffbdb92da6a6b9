#!/usr/bin/env bash
# HTTP sending against SMTP into the same relay, in one run (issue #14, "Benchmark"):
#   SMTP        smtp-source -d: each of $SESSIONS sessions sends its messages over one connection;
#   HTTP raw    ab -k: $SESSIONS keep-alive connections POST /v1/messages, the same-size message
#               as message/rfc822 (envelope in the query);
#   HTTP JSON   ab -k: the same, as JSON fields (subject, text of the same size) that the relay
#               builds into MIME with mail-builder;
#   SMTP again  to show how much the machine drifted during the run.
# One relay (release build, smarthost mode into Postfix's smtp-sink, durable spool with group
# commit) serves all four. "accepted" is N / the time until the client had every 250 or 202
# (each given only after the spool's fdatasync); "delivered" the time until smtp-sink counted
# them all. Writes benches/results-http.md and prints it.
#
# Needs root the first time (it installs postfix with "No configuration" for smtp-source and
# smtp-sink, and apache2-utils for ab). Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
N=${N:-20000}          # messages per run
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-5120}
SINK=${SINK_PORT:-32101}
SLUICE=${SLUICE_PORT:-32125}
API=${API_PORT:-32126}
ADMIN=${ADMIN_PORT:-32127}
KEY=bench-api-key
work=$(mktemp -d /tmp/sluice-bench-http.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -n "${sink_pid:-}" ] && kill "$sink_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

if ! command -v smtp-source >/dev/null || ! command -v ab >/dev/null; then
    echo "installing postfix (no configuration, for smtp-source and smtp-sink) and apache2-utils (ab)"
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix apache2-utils >/dev/null
fi
cargo build --release -p sluice
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

source "$repo/benches/lib.sh"

key_sha=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
mkdir -p "$work/sluice"
sluice_config "$SLUICE" "$work/sluice/spool" "[[tenant.api_key]]
name = \"bench\"
sha256 = \"$key_sha\"
[admin]
listen = \"127.0.0.1:$ADMIN\"
[api]
listen = \"127.0.0.1:$API\"" >"$work/sluice/sluice.toml"

# The same message for every path: $SIZE bytes of headers and body.
python3 - "$SIZE" "$work" <<'PY'
import base64, json, sys
size, work = int(sys.argv[1]), sys.argv[2]
head = "From: bench@example.com\r\nTo: sink@dest.test\r\nSubject: bench\r\n\r\n"
line = "x" * 76 + "\r\n"
body = (line * (size // len(line) + 1))[: max(0, size - len(head) - 2)] + "\r\n"
open(f"{work}/message.eml", "w", newline="").write(head + body)
text = body.replace("\r\n", "\n")
msg = {"from": "bench@example.com", "to": ["sink@dest.test"], "subject": "bench", "text": text}
open(f"{work}/message.json", "w").write(json.dumps(msg))
PY

start_sink
SLUICE_LOG=warn "$repo/target/release/sluice" serve --config "$work/sluice/sluice.toml" 2>"$work/sluice/log" &
sluice_pid=$!; pids+=("$sluice_pid")
wait_port "$SLUICE"
wait_port "$API"

# On a sink that never counts everything: say what the relay logged.
sink_or_log() { wait_sink "$1" || { tail -20 "$work/sluice/log" >&2; df -h "$work" >&2; exit 1; }; }

# Each load runs in this shell (not a subshell: the sink it restarts must be the one
# cleaned up) and sets $accepted and $delivered in msg/s.
rates() {
    accepted=$(python3 -c "print(f'{$N/($2-$1):.0f}')")
    delivered=$(python3 -c "print(f'{$N/($3-$1):.0f}')")
}

smtp_load() {
    local t0 t1 t2
    start_sink
    t0=$(now)
    smtp-source -d -s "$SESSIONS" -l "$SIZE" -m "$N" -f bench@example.com -t sink@dest.test "127.0.0.1:$SLUICE"
    t1=$(now)
    sink_or_log "$N"
    t2=$(now)
    rates "$t0" "$t1" "$t2"
}

# http_load FILE CONTENT_TYPE PATH
http_load() {
    local t0 t1 t2
    start_sink
    t0=$(now)
    ab -q -k -l -n "$N" -c "$SESSIONS" -p "$1" -T "$2" -H "Authorization: Bearer $KEY" \
        "http://127.0.0.1:$API$3" >"$work/ab.out"
    t1=$(now)
    if grep -qE "^(Non-2xx responses|Failed requests: +[1-9])" "$work/ab.out"; then
        cat "$work/ab.out" >&2; echo "some requests were not answered 202" >&2; exit 1
    fi
    sink_or_log "$N"
    t2=$(now)
    rates "$t0" "$t1" "$t2"
}

echo "== SMTP (smtp-source -d, $SESSIONS sessions)"
smtp_load; smtp_a=$accepted; smtp_d=$delivered
echo "== HTTP raw (ab -k, $SESSIONS connections, message/rfc822)"
http_load "$work/message.eml" message/rfc822 "/v1/messages?from=bench%40example.com&to=sink%40dest.test"
raw_a=$accepted; raw_d=$delivered
echo "== HTTP JSON (ab -k, $SESSIONS connections, built into MIME)"
http_load "$work/message.json" application/json /v1/messages
json_a=$accepted; json_d=$delivered
echo "== SMTP again"
smtp_load; smtp2_a=$accepted; smtp2_d=$delivered
cpu=$(awk '{print ($14+$15)/100}' "/proc/$sluice_pid/stat")
peak_rss=$(awk '/VmHWM/ {print $2}' "/proc/$sluice_pid/status")
kill "$sluice_pid"; wait "$sluice_pid" 2>/dev/null || true

ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
smtp_mean=$(( (smtp_a + smtp2_a) / 2 ))
{
echo "Run: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores shared with other builds, $N messages of $SIZE bytes per path, $SESSIONS parallel keep-alive clients, one relay (release build, smarthost into smtp-sink)."
echo
echo "| path | accepted msg/s | delivered msg/s (end to end) | accepted vs SMTP (mean of both SMTP runs) |"
echo "|---|---|---|---|"
echo "| SMTP (smtp-source -d) | $smtp_a | $smtp_d | $(ratio "$smtp_a" "$smtp_mean") |"
echo "| HTTP raw (ab -k, message/rfc822) | $raw_a | $raw_d | $(ratio "$raw_a" "$smtp_mean") |"
echo "| HTTP JSON (ab -k, built with mail-builder) | $json_a | $json_d | $(ratio "$json_a" "$smtp_mean") |"
echo "| SMTP again | $smtp2_a | $smtp2_d | $(ratio "$smtp2_a" "$smtp_mean") |"
echo
echo "Relay CPU seconds for the $(( 4 * N )) messages: $cpu; peak RSS $(( peak_rss / 1024 )) MiB."
} | tee "$repo/benches/results-http.md"
