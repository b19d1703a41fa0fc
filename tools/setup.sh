#!/usr/bin/env bash
# Installs the Debian packages that favor builds with, if any is missing. Idempotent, and fast
# when everything is there (no apt-get at all).
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libdnnl-dev           # oneDNN: matrix products
  ocl-icd-opencl-dev    # oneDNN's CMake package config requires OpenCL (only a Recommends)
  libsentencepiece-dev  # tokenizer: SentencePiece vocabularies
  libpcre2-dev          # tokenizer: pre-tokenizer regular expressions
  libutf8proc-dev       # tokenizer: Unicode normalisation
  libabsl-dev           # Status, strings
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
