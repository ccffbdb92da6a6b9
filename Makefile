# The two commands of the README: `make run` and `make test`.

.PHONY: run test test-deps demo bench

# The relay on its built-in quickstart: loopback listeners, spool and Maildir under ./data.
run:
	cargo run --release -p sluice -- serve

# Every test: unit tests and the end-to-end suite against real SMTP clients and servers.
test: test-deps
	cargo test --workspace

test-deps:
	./scripts/test-deps.sh

# Start the quickstart relay, send one message through it with swaks, show the Maildir copy.
demo: test-deps
	./scripts/demo.sh

# Throughput against Postfix and smtp-sink; writes benches/results.md.
bench:
	./benches/relay-throughput.sh
