#!/usr/bin/env bash
# Set-up, build and the whole test suite, in one command.
#   bash tools/test.sh          release build (-O3), all tests
#   bash tools/test.sh asan     Debug + AddressSanitizer + UBSan build, all tests
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
case "$preset" in
  release|asan) ;;
  *) echo "usage: bash tools/test.sh [release|asan]" >&2; exit 2 ;;
esac
bash tools/setup.sh
cmake --preset "$preset"
cmake --build --preset "$preset"
ctest --preset "$preset"
