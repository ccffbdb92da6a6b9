# The two commands of the README: `make run` and `make test`.

.PHONY: run test test-deps plugins demo bench

# The relay on its built-in quickstart: loopback listeners, spool and Maildir under ./data.
run:
	cargo run --release -p sluice -- serve

# Every test: unit tests and the end-to-end suite against real SMTP clients and servers.
test: test-deps plugins
	cd plugins && cargo test --lib --target $$(rustc -vV | sed -n 's/^host: //p') \
		-p sluice-sdk -p router -p marketing-detector
	cargo test --workspace
	./scripts/fuzz.sh 60

# The plugin SDK's fixtures and shipped plugins, as WebAssembly components.
plugins: test-deps target/python/keyword_policy.wasm target/js/attachment_policy.wasm
	cd plugins && cargo build --release
	cd examples/plugin-template && CARGO_TARGET_DIR=$(CURDIR)/target cargo build --release

# The Python and JavaScript components are rebuilt only when their sources or the WIT change:
# neither toolchain's output is byte-for-byte reproducible, and a new hash means the relay
# compiles the component again (tens of seconds for the JavaScript one).
target/python/keyword_policy.wasm: $(wildcard wit/*.wit plugins/python/*.py plugins/python/*/*.py) | test-deps
	mkdir -p target/python
	componentize-py -d wit -w policy componentize -p plugins/python -p plugins/python/keyword_policy app \
		-o $@

target/js/attachment_policy.wasm: $(wildcard wit/*.wit plugins/js/*.mjs plugins/js/package.json plugins/js/package-lock.json plugins/js/*/*.js) | test-deps
	mkdir -p target/js
	cd plugins/js && npm install --silent --no-audit --no-fund && \
		node build.mjs attachment_policy/policy.js ../../wit ../../target/js/attachment_policy.wasm

test-deps:
	./scripts/test-deps.sh

# Start the quickstart relay, send one message through it with swaks, show the Maildir copy.
demo: test-deps
	./scripts/demo.sh

# Throughput against Postfix and smtp-sink; writes benches/results.md.
bench:
	./benches/relay-throughput.sh
