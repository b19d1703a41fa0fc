#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan; the `fuzz` preset) and runs each for a
# bounded time, seeded with the real models in ../shared/models and the regression inputs in
# tests/fuzz/regressions. Two targets run at a time (one per core).
#   bash tools/fuzz.sh                 every target, 60 s each
#   FUZZ_SECONDS=600 bash tools/fuzz.sh gguf safetensors
# A crash stops the run with exit 1; its input is left in build/fuzz/artifacts/<target>/ to be
# minimised (fuzz_<target> -minimize_crash=1 FILE), fixed, and added to
# tests/fuzz/regressions/<target>/, where every build's ctest replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(gguf llama2c safetensors hf_config tokenizer_bin tokenizer_json sentencepiece_model
           byte_level_text cli chat_template openai_request)
fi
models=../shared/models
declare -A seeds=(
  [gguf]="$models/stories260K/tinyllamas-stories-260k-f32.gguf"
  [llama2c]="$models/stories260K/stories260K.bin"
  [safetensors]="$models/tinystories-656K/model.safetensors"
  [hf_config]="$models/tinystories-656K/config.json"
  [tokenizer_bin]="$models/stories260K/tok512.bin"
  [tokenizer_json]="$models/tinystories-656K/tokenizer.json tests/fuzz/seeds/tokenizer_json/*"
  [sentencepiece_model]="$models/stories260K/tok512.model"
  [byte_level_text]="tests/fuzz/seeds/byte_level_text/*"
  [cli]="tests/fuzz/seeds/cli/*"
  [chat_template]="tests/data/chat_templates/*.jinja"
  [openai_request]="tests/fuzz/seeds/openai_request/*"
)
for target in "${targets[@]}"; do
  if [ -z "${seeds[$target]+x}" ]; then
    echo "fuzz.sh: unknown target '$target' (targets: ${!seeds[*]})" >&2
    exit 2
  fi
done

cmake --preset fuzz
cmake --build --preset fuzz

out=build/fuzz/runs
rm -rf "$out"
run_one() {
  local target=$1
  local corpus="$out/$target/corpus" artifacts="build/fuzz/artifacts/$target"
  mkdir -p "$corpus" "$artifacts"
  # shellcheck disable=SC2086  # the cli seeds are a glob
  cp ${seeds[$target]} "$corpus/"
  find "tests/fuzz/regressions/$target" -type f ! -name .keep -exec cp {} "$corpus/" \;
  # libFuzzer caps inputs at 1 MiB unless told: the model seeds are larger, and a truncated seed
  # would never reach the tensor data or the forward pass.
  local max_len
  max_len=$(find "$corpus" -type f -printf '%s\n' | sort -n | tail -1)
  if [ "${max_len:-0}" -lt 4096 ]; then max_len=4096; fi
  # -close_fd_mask=3: the targets print errors for most inputs; libFuzzer's own report still
  # goes to the log. rss_limit: the largest seed is 2.6 MB; a legitimate input never needs 2 GB.
  if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     "build/fuzz/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=20 -max_len="$max_len" \
       -rss_limit_mb=2048 -close_fd_mask=3 -print_final_stats=1 \
       -artifact_prefix="$artifacts/" "$corpus" > "$out/$target.log" 2>&1; then
    echo "fuzz $target: $(grep -E '^(Done|stat::number_of_executed_units)' "$out/$target.log" | tail -1)," \
         "corpus $(ls "$corpus" | wc -l) inputs"
  else
    echo "fuzz $target: FAILED (log $out/$target.log, input in $artifacts/)"
    tail -40 "$out/$target.log"
    return 1
  fi
}

status=0
pids=()
for target in "${targets[@]}"; do
  run_one "$target" &
  pids+=($!)
  if [ ${#pids[@]} -eq 2 ]; then
    for pid in "${pids[@]}"; do wait "$pid" || status=1; done
    pids=()
  fi
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
