#!/usr/bin/env bash
# favor tokenize against llama.cpp's llama-tokenize on the same vocabulary files and the same
# ~1 MiB of mixed text (this repository's sources and docs plus the tokenizer test corpus), end to
# end as a user runs them (load + encode + print the ids), best of three runs each. Also checks the
# ids are identical. llama.cpp is built separately (a reference, never a dependency):
#   LLAMA_TOKENIZE=/path/to/llama.cpp/build/bin/llama-tokenize bash bench/tokenize_vs_llama.sh
set -euo pipefail
cd "$(dirname "$0")/.."
llama="${LLAMA_TOKENIZE:?set LLAMA_TOKENIZE to the llama-tokenize binary of llama.cpp}"
favor=build/release/tools/favor
vocab=build/release/test-data/llama.cpp-vocab
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The text: whole files repeated to 1 MiB, cut back to a character boundary.
# (head closes the pipe early: the loop's SIGPIPE is expected.)
(set +o pipefail
 for _ in $(seq 1 40); do
   cat README.md tests/data/tokenizers/corpus.json engine/text/*.cc engine/io/gguf.cc docs/*.md
 done | head -c 1048576 > "$work/raw.txt")
iconv -c -f UTF-8 -t UTF-8 "$work/raw.txt" > "$work/text.txt" || true

# The best wall time in seconds of three runs of the command; its output is left in out.txt.
function best_of_three {
  local best=1e9 start end
  for _ in 1 2 3; do
    start=$(date +%s.%N)
    "$@" > "$work/out.txt" 2> /dev/null
    end=$(date +%s.%N)
    best=$(awk -v s="$start" -v e="$end" -v b="$best" 'BEGIN { t = e - s; print (t < b ? t : b) }')
  done
  echo "$best"
}

printf "%-14s %10s %12s %12s %8s  %s\n" vocabulary tokens "favor (s)" "llama (s)" ratio ids
for name in gpt-2 deepseek-llm deepseek-coder falcon starcoder refact mpt llama-spm phi-3; do
  file="$vocab/ggml-vocab-$name.gguf"
  t_favor=$(best_of_three "$favor" tokenize -m "$file" -f "$work/text.txt" --ids)
  cp "$work/out.txt" "$work/favor.txt"
  t_llama=$(best_of_three "$llama" -m "$file" -f "$work/text.txt" --ids --log-disable \
            --no-parse-special --no-escape)
  cp "$work/out.txt" "$work/llama.txt"
  same=$(cmp -s "$work/favor.txt" "$work/llama.txt" && echo identical || echo DIFFERENT)
  tokens=$(tr -cd ',' < "$work/favor.txt" | wc -c)
  printf "%-14s %10d %12.3f %12.3f %7.2fx  %s\n" "$name" $((tokens + 1)) "$t_favor" "$t_llama" \
    "$(echo "$t_llama $t_favor" | awk '{print $1 / $2}')" "$same"
done
