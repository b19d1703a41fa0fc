#!/usr/bin/env bash
# The out-of-tree consumer check: installs the release build into a scratch prefix, builds
# examples/ against it with find_package(favor CONFIG) and the C example with pkg-config, and
# runs them on the stories260K model.
#   bash tools/examples.sh [PREFIX]     (after a release build: cmake --build --preset release)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${1:-$PWD/build/install}"
model="$PWD/../shared/models/stories260K/stories260K.bin"
rm -rf "$prefix" build/examples
cmake --install build/release --prefix "$prefix"
cmake -S examples -B build/examples -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release
cmake --build build/examples -j "$(nproc)"
export LD_LIBRARY_PATH="$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
for example in minimal streaming compare_attention minimal_c; do
  echo "== $example"
  "build/examples/$example" "$model"
done
echo "== minimal.c with pkg-config"
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" cc -std=c11 -Wall -Werror examples/minimal.c \
  $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs favor) -o build/examples/minimal_pkgconfig
build/examples/minimal_pkgconfig "$model" "The little dog"
