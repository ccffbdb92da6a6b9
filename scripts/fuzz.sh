#!/usr/bin/env bash
# Runs each coverage-guided fuzz target of host/wire/fuzz (cargo-fuzz, libFuzzer) for SECONDS
# (default 60) from the committed seeds plus what earlier runs found (host/wire/fuzz/corpus,
# not committed). `make test` runs it; a crash fails the run and leaves the input under
# host/wire/fuzz/artifacts/. Installs cargo-fuzz from crates.io if it is missing.
set -euo pipefail
seconds=${1:-60}
cd "$(dirname "$0")/../host/wire/fuzz"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "installing cargo-fuzz (crates.io)"
    cargo install --quiet --locked cargo-fuzz
fi
# cargo-fuzz passes unstable flags to rustc; the machine has a stable toolchain only.
export RUSTC_BOOTSTRAP=1
for target in commands content; do
    mkdir -p "corpus/$target"
    echo "fuzzing $target for ${seconds}s"
    log="target/fuzz-$target.log"
    mkdir -p target
    if ! cargo fuzz run --sanitizer none "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -max_len=2048 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz target $target failed; the input is under host/wire/fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E "^stat::(number_of_executed_units|peak_rss_mb)" "$log" || true
done
