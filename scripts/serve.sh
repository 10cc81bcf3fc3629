#!/usr/bin/env bash
# Serves the demo: setup if needed, then Trunk's development server with a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh
url="http://127.0.0.1:8080/"
printf '\n==> serving the demo: open %s in a browser with WebGPU (Chrome/Edge 113+;\n' "$url"
printf '    on Linux start Chrome with --enable-unsafe-webgpu). Ctrl-C stops the server.\n\n'
exec trunk serve --release
