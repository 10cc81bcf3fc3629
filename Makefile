# Task runner. `make serve` and `make test` run setup first, so a fresh clone needs nothing else.
.PHONY: setup serve test bench bench-train bench-methods clean

setup:
	scripts/setup.sh

serve:
	scripts/serve.sh

test:
	scripts/test.sh

bench:
	scripts/bench.sh

bench-train:
	scripts/bench-train.sh all

bench-methods:
	scripts/bench-methods.sh all

clean:
	cargo clean
	rm -rf dist test-artifacts
