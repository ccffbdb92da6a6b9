#!/usr/bin/env bash
# Runs the quickstart relay in a scratch directory, submits one message over STARTTLS with
# AUTH as the demo tenant, and prints the delivered Maildir file.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p sluice
bin="$PWD/target/release/sluice"
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
(cd "$work" && exec "$bin" serve) 2>"$work/sluice.log" &
pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/2525) 2>/dev/null && break; sleep 0.1; done
swaks --server 127.0.0.1:2525 --tls --auth PLAIN --auth-user demo --auth-password demo-password \
      --from app@example.com --to alice@dest.example --h-Subject "Your sign-in code" \
      --body "Your code is 123456" --silent 1
for _ in $(seq 100); do ls "$work"/data/maildir/*/new/* >/dev/null 2>&1 && break; sleep 0.1; done
echo "== delivered: $(ls "$work"/data/maildir/*/new/*)"
cat "$work"/data/maildir/*/new/*
echo "== relay log"
cat "$work/sluice.log"
