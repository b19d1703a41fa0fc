#!/usr/bin/env bash
# Set-up, build and the whole test suite, in one command.
#   bash tools/test.sh           release build (-O3), then Debug + ASan + UBSan build; all tests in both
#   bash tools/test.sh release   release only (quicker)
#   bash tools/test.sh asan      sanitizers only
set -euo pipefail
cd "$(dirname "$0")/.."
presets=("$@")
if [ ${#presets[@]} -eq 0 ]; then presets=(release asan); fi
for preset in "${presets[@]}"; do
  case "$preset" in
    release|asan) ;;
    *) echo "usage: bash tools/test.sh [release] [asan]" >&2; exit 2 ;;
  esac
done
bash tools/setup.sh
for preset in "${presets[@]}"; do
  echo "== $preset: configure, build, test"
  cmake --preset "$preset"
  cmake --build --preset "$preset"
  ctest --preset "$preset"
  # An embedding program, out of tree, against the installed package (C++ and C).
  if [ "$preset" = release ]; then bash tools/examples.sh; fi
done
