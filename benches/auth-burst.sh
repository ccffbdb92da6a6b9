#!/usr/bin/env bash
# AUTH under a burst (issue 19 §2): for each burst size, a fresh relay; N clients, each from
# its own loopback address, STARTTLS and send a failing AUTH PLAIN at the same moment
# (tests/tools/auth_burst.py). Reports the relay's resident memory before, at its peak
# (VmHWM) and after, the replies, and how long the burst took. Writes benches/results-auth.md
# and prints it.
#
#   benches/auth-burst.sh                       # the release build (built if needed)
#   SLUICE_BIN=target/debug/sluice benches/auth-burst.sh   # dependencies, argon2 included,
#                                               # are optimised in dev builds too
#   BURSTS="8 32 64" AUTH_EXTRA='max_concurrent_checks = 4' benches/auth-burst.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
BURSTS=${BURSTS:-"8 32 64"}
PORT=${SLUICE_PORT:-32125}
if [ -z "${SLUICE_BIN:-}" ]; then
    cargo build --release -p sluice
    SLUICE_BIN=$repo/target/release/sluice
fi
work=$(mktemp -d /tmp/sluice-auth-bench.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

source "$repo/benches/lib.sh"   # wait_port, now
kib() { awk -v f="$1:" '$1 == f {print $2}' "/proc/$pid/status"; }
mib() { echo "$(( ($1 + 512) / 1024 )) MiB"; }

out=$repo/benches/results-auth.md
{
    echo "| concurrent failing AUTHs | RSS before | peak RSS (VmHWM) | RSS after | replies | burst took |"
    echo "|---:|---:|---:|---:|---|---:|"
} >"$out"
for n in $BURSTS; do
    rm -rf "$work/run" && mkdir -p "$work/run"
    cat >"$work/run/sluice.toml" <<CONF
[server]
hostname = "bench.local"
listen = ["127.0.0.1:$PORT"]
listen_tls = []
[auth]
${AUTH_EXTRA:-}
[spool]
dir = "$work/run/spool"
[tls]
generated_dir = "$work/run/tls"
[delivery]
mode = "local"
maildir = "$work/run/maildir"
[[tenant]]
name = "demo"
sender_domains = ["example.com"]
[[tenant.users]]
username = "demo"
password_hash = "\$argon2id\$v=19\$m=19456,t=2,p=1\$mUVUyVvOfnrjaDrADSvkdQ\$4OO0u1/HvlqsvYvhEnt0GbmbzAtEnkc49TGCjPUfaGw"
CONF
    SLUICE_LOG=warn "$SLUICE_BIN" serve --config "$work/run/sluice.toml" 2>"$work/run/log" &
    pid=$!
    wait_port "$PORT"
    before=$(kib VmRSS)
    t0=$(now)
    replies=$(python3 "$repo/tests/tools/auth_burst.py" "$PORT" "$n")
    t1=$(now)
    peak=$(kib VmHWM)
    after=$(kib VmRSS)
    summary=$(python3 -c 'import collections, json, sys
c = collections.Counter(r[:9] for r in json.loads(sys.argv[1]))
print(", ".join(f"{k.strip()} x{v}" for k, v in sorted(c.items())))' "$replies")
    took=$(python3 -c "print(f'{$t1 - $t0:.1f} s')")
    echo "| $n | $(mib "$before") | $(mib "$peak") | $(mib "$after") | $summary | $took |" >>"$out"
    kill "$pid" && wait "$pid" 2>/dev/null || true
    pid=
done
cat "$out"
