#!/usr/bin/env bash
# Runs every test: setup if needed, formatting, lints (native and wasm32), native GPU tests,
# the page build, and the browser tests in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh

timings=()
run() {
  local name=$1
  shift
  printf '\n==> test: %s\n    $ %s\n' "$name" "$*"
  local start=$SECONDS
  if ! "$@"; then
    printf '\ntest step failed: %s\n' "$name" >&2
    exit 1
  fi
  timings+=("$(printf '%5ds  %s' $((SECONDS - start)) "$name")")
}

run "formatting" cargo fmt --check
run "clippy, native" cargo clippy --all-targets -- -D warnings
run "clippy, wasm32" cargo clippy --target wasm32-unknown-unknown --lib --no-default-features -- -D warnings
run "native GPU tests" cargo test
run "page build" trunk build --release
run "browser tests" npm run --silent test:browser

printf '\n==> all tests passed\n'
printf '%s\n' "${timings[@]}"
