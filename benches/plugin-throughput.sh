#!/usr/bin/env bash
# Relay throughput with a tenant chain of 4 Rust plugins against none, in one run, plus the
# per-message cost of the chain (benches/plugin_chain.rs). Writes benches/plugin-results.md.
# Needs smtp-source/smtp-sink (see relay-throughput.sh) and `make plugins`.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
N=${N:-20000}
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-5120}
SINK=${SINK_PORT:-32101}
PORT=${SLUICE_PORT:-32125}
work=$(mktemp -d /tmp/sluice-pbench.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
source "$repo/benches/lib.sh"

cargo build --release -p sluice
fixtures="$repo/target/wasm32-wasip2/release"
[ -f "$fixtures/fixture_verdicts.wasm" ] || { echo "run make plugins first" >&2; exit 1; }

four="
[[tenant.plugin]]
name = \"verdicts\"
path = \"$fixtures/fixture_verdicts.wasm\"
[[tenant.plugin]]
name = \"counter\"
path = \"$fixtures/fixture_counter.wasm\"
[tenant.plugin.config]
limit = 1000000000
[[tenant.plugin]]
name = \"idle\"
path = \"$fixtures/fixture_hostile.wasm\"
[[tenant.plugin]]
name = \"verdicts-2\"
path = \"$fixtures/fixture_verdicts.wasm\"
"
declare -A rate
for chain in none four; do
    case $chain in none) plugins="";; four) plugins=$four;; esac
    sluice_config "$PORT" "$work/spool-$chain" "$plugins" >"$work/$chain.toml"
    start_sink
    SLUICE_LOG=warn "$repo/target/release/sluice" serve --config "$work/$chain.toml" 2>"$work/$chain.log" &
    pid=$!; pids+=("$pid")
    wait_port "$PORT"
    read -r _ e2e < <(load "$PORT")
    rate[$chain]=$e2e
    kill "$pid"; wait "$pid" 2>/dev/null || true
done
chain_table=$(cargo bench -q -p sluice --bench plugin_chain 2>/dev/null | grep '^|')
{
echo "Run: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $N messages of $SIZE bytes, smtp-source -s $SESSIONS, sluice → smtp-sink."
echo
echo "| tenant chain | delivered msg/s | vs no plugins |"
echo "|---|---|---|"
echo "| no plugins | ${rate[none]} | 1.00 |"
echo "| 4 Rust plugins | ${rate[four]} | $(python3 -c "print(f'{${rate[four]}/${rate[none]}:.2f}')") |"
echo
echo "$chain_table"
} | tee "$repo/benches/plugin-results.md"
