# Task runner. `make serve` and `make test` run setup first, so a fresh clone needs nothing else.
.PHONY: setup serve test bench bench-gpu bench-train bench-methods bench-ensembles bench-page bench-page-repeat bench-tfjs clean

setup:
	scripts/setup.sh

serve:
	scripts/serve.sh

test:
	scripts/test.sh

bench:
	scripts/bench.sh

# On a machine with a GPU: ours beside PyTorch on the same card, under a time budget
# (BUDGET seconds, default 480); see scripts/bench-gpu.sh.
bench-gpu:
	scripts/bench-gpu.sh $(BUDGET)

bench-train:
	scripts/bench-train.sh all

bench-methods:
	scripts/bench-methods.sh all

# Step, cosine, Snapshot Ensembles, FGE and SWA over 3 seeds in the regime that suits the
# adapter (REGIME=software or gpu to choose); see scripts/bench-ensembles.sh.
bench-ensembles:
	scripts/bench-ensembles.sh $(REGIME)

# Ours against TensorFlow.js (webgpu, webgl, wasm) in one headless Chromium, on one adapter.
bench-tfjs:
	scripts/setup.sh
	npm ci --prefix bench --no-audit --no-fund
	. scripts/env.sh && cargo build --release && trunk build --release && node scripts/bench-tfjs.mjs

# The page's default comparison in headless Chromium; refreshes the README's screenshot.
bench-page:
	scripts/setup.sh
	. scripts/env.sh && trunk build --release && node scripts/page-screenshot.mjs

# The page's default comparison REPEATS times in a row (default 5): how much its reported
# speeds and FreezeOut's saving move between runs on the same machine.
bench-page-repeat:
	scripts/setup.sh
	mkdir -p bench-results
	. scripts/env.sh && trunk build --release && node scripts/bench-page-repeat.mjs $(or $(REPEATS),5) bench-results/page-repeat.json

clean:
	cargo clean
	rm -rf dist test-artifacts
