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
# "four" runs the chain with `instance = "fresh"` (a new instance per transaction); "kept"
# with the default, `instance = "reuse"` (warm instances kept between a tenant's transactions).
kept=$four
four=$(printf '%s\n' "$kept" | sed 's/^path = .*/&\ninstance = "fresh"/')
# Alternate the chains ROUNDS times (this VM's speed drifts by tens of percent within
# minutes) and report every round and the medians of the per-round ratios.
ROUNDS=${ROUNDS:-3}
# The relay's own CPU (user + system) in clock ticks: throughput swings with the VM's load,
# CPU per message less so, and the difference of two chains is what the plugins cost.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tick_us=$(python3 -c "import os; print(1e6 / os.sysconf('SC_CLK_TCK'))")
per_msg() { python3 -c "print(f'{$1 * $tick_us / $N:.0f}')"; }
rows=""
ratios=()
ratios_kept=()
extra=()
extra_kept=()
for round in $(seq "$ROUNDS"); do
    declare -A rate cpu
    for chain in none four kept; do
        case $chain in none) plugins="";; four) plugins=$four;; kept) plugins=$kept;; esac
        sluice_config "$PORT" "$work/spool-$chain-$round" "$plugins" >"$work/$chain.toml"
        start_sink
        SLUICE_LOG=warn "$repo/target/release/sluice" serve --config "$work/$chain.toml" 2>"$work/$chain.log" &
        pid=$!; pids+=("$pid")
        wait_port "$PORT"
        cpu0=$(cpu_ticks "$pid")
        read -r _ e2e < <(load "$PORT")
        rate[$chain]=$e2e
        cpu[$chain]=$(( $(cpu_ticks "$pid") - cpu0 ))
        kill "$pid"; wait "$pid" 2>/dev/null || true
    done
    ratio=$(python3 -c "print(f'{${rate[four]}/${rate[none]}:.2f}')")
    ratio_kept=$(python3 -c "print(f'{${rate[kept]}/${rate[none]}:.2f}')")
    ratios+=("$ratio"); ratios_kept+=("$ratio_kept")
    cn=$(per_msg "${cpu[none]}"); cf=$(per_msg "${cpu[four]}"); ck=$(per_msg "${cpu[kept]}")
    extra+=("$((cf - cn))"); extra_kept+=("$((ck - cn))")
    rows+="| $round | ${rate[none]} | ${rate[four]} | $ratio | ${rate[kept]} | $ratio_kept | $cn | $cf | $ck |"$'\n'
done
median_of() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
median=$(median_of "${ratios[@]}")
median_kept=$(median_of "${ratios_kept[@]}")
median_extra=$(median_of "${extra[@]}")
median_extra_kept=$(median_of "${extra_kept[@]}")
chain_table=""
if [ "${CHAIN_TABLE:-1}" = 1 ]; then
    chain_table=$(cargo bench -q -p sluice --bench plugin_chain 2>/dev/null | grep '^|')
fi
{
echo "Run: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $N messages of $SIZE bytes, smtp-source -s $SESSIONS, sluice → smtp-sink."
echo
echo "| round | none, msg/s | 4 plugins, msg/s | ratio | 4 plugins reuse (default), msg/s | ratio | relay CPU µs/msg: none | 4 plugins | 4 plugins reuse |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s' "$rows"
echo
echo "Median ratio over $ROUNDS rounds: **$median** with \`instance = \"fresh\"\`, **$median_kept** with the default \`instance = \"reuse\"\`; the 4-plugin chain's median cost in relay CPU: **$median_extra µs per message** (fresh), **$median_extra_kept µs** (\`reuse\`)."
echo
echo "$chain_table"
} | tee "$repo/benches/plugin-results.md"
