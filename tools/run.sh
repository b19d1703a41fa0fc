#!/usr/bin/env bash
# Set-up, build and the main job: text generation on the default model.
#   bash tools/run.sh ["prompt"]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target favor
exec build/release/tools/favor generate -m ../shared/models/stories260K/stories260K.bin \
  -p "${1:-Once upon a time}" -n 200
