#!/usr/bin/env bash
# Set-up, build and the main job: a story from the stories260K model in ../shared/models.
#   bash tools/run.sh ["prompt"]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh >/dev/null
cmake --preset release >/dev/null
cmake --build --preset release --target favor >/dev/null
exec build/release/tools/favor generate -m ../shared/models/stories260K/stories260K.bin \
  -p "${1:-Once upon a time}" -n 256 --seed 42
