#!/usr/bin/env bash
# Set-up, build and the whole test suite, in one command.
#   bash tools/test.sh           release build (-O3), then Debug + ASan + UBSan, all tests in both;
#                                then the libFuzzer targets, 60 s each under ASan + UBSan (clang)
#   bash tools/test.sh release   release only (quicker); any of release, asan, fuzz may be named
set -euo pipefail
cd "$(dirname "$0")/.."
stages=("$@")
if [ ${#stages[@]} -eq 0 ]; then stages=(release asan fuzz); fi
for stage in "${stages[@]}"; do
  case "$stage" in
    release|asan|fuzz) ;;
    *) echo "usage: bash tools/test.sh [release] [asan] [fuzz]" >&2; exit 2 ;;
  esac
done
bash tools/setup.sh
# ctest runs two tests at a time on as many cores, each with its threads: OpenMP's default
# spin-waiting then holds cores the other test needs, and a pair of tests that take 0.9 s each
# alone took 33-39 s together. Waiting threads sleep instead (tests never assert timings).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
for stage in "${stages[@]}"; do
  if [ "$stage" = fuzz ]; then
    echo "== fuzz: libFuzzer targets, ${FUZZ_SECONDS:-60} s each"
    bash tools/fuzz.sh
    continue
  fi
  echo "== $stage: configure, build, test"
  cmake --preset "$stage"
  cmake --build --preset "$stage"
  ctest --preset "$stage"
  # An embedding program, out of tree, against the installed package (C++ and C).
  if [ "$stage" = release ]; then bash tools/examples.sh; fi
done
