#!/usr/bin/env python3
# Writes the tiny random-weight GGUF models of tests/data/architectures with llama.cpp's gguf-py
# writer, and their reference logits with llama.cpp itself (the oracle; never a dependency):
#   LLAMA_CPP=/path/to/llama.cpp LLAMA_LOGITS=/path/to/llama-logits \
#     /usr/bin/python3 tests/data/architectures/make_fixtures.py tests/data/architectures
# llama-logits is a 40-line program against libllama that prints every position's logits (%.9g)
# for a comma-separated id list, as `favor logits` prints them. Needs numpy (Debian python3-numpy).
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.environ["LLAMA_CPP"], "gguf-py"))
import gguf  # noqa: E402

OUT = sys.argv[1]
IDS = [1, 15, 27, 200, 3, 99, 64, 128, 7, 250, 31, 2, 180, 45, 90, 11]


def byte_vocabulary(writer, n_vocab):
    """A GPT-2-style vocabulary: the 256 byte characters, a few merged pieces, then fillers."""
    alphabet = [chr(c) for c in range(ord("!"), ord("~") + 1)] + \
               [chr(c) for c in range(0xA1, 0xAD)] + [chr(c) for c in range(0xAE, 0x100)]
    shifted = 0
    tokens = []
    for byte in range(256):
        if chr(byte) in alphabet:
            tokens.append(chr(byte))
        else:
            tokens.append(chr(256 + shifted))
            shifted += 1
    merges = ["t h", "h e", "i n", "e r", "a n"]
    tokens += [m.replace(" ", "") for m in merges]
    while len(tokens) < n_vocab:
        tokens.append(f"<extra_{len(tokens)}>")
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.NORMAL] * n_vocab)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)


def llama(path, rng):
    dim, layers, heads, kv_heads, ffn, vocab = 64, 2, 4, 2, 96, 272
    head_dim = dim // heads
    w = gguf.GGUFWriter(path, "llama")
    w.add_context_length(128)
    w.add_embedding_length(dim)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_rope_dimension_count(head_dim)
    byte_vocabulary(w, vocab)

    def t(name, *shape, scale=0.08, base=0.0):
        w.add_tensor(name, (base + scale * rng.standard_normal(shape)).astype(np.float32))

    t("token_embd.weight", vocab, dim, scale=0.5)
    t("output_norm.weight", dim, scale=0.1, base=1.0)
    t("output.weight", vocab, dim)
    for i in range(layers):
        p = f"blk.{i}."
        t(p + "attn_norm.weight", dim, scale=0.1, base=1.0)
        t(p + "attn_q.weight", dim, dim, scale=0.2)
        t(p + "attn_k.weight", kv_heads * head_dim, dim, scale=0.2)
        t(p + "attn_v.weight", kv_heads * head_dim, dim)
        t(p + "attn_output.weight", dim, dim)
        t(p + "ffn_norm.weight", dim, scale=0.1, base=1.0)
        t(p + "ffn_gate.weight", ffn, dim)
        t(p + "ffn_up.weight", ffn, dim)
        t(p + "ffn_down.weight", dim, ffn)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


FIXTURES = {"llama": llama}

for name, build in FIXTURES.items():
    model = os.path.join(OUT, f"{name}.gguf")
    build(model, np.random.default_rng(1234))
    ids = ",".join(str(i) for i in IDS)
    logits = subprocess.run([os.environ["LLAMA_LOGITS"], model, ids], check=True,
                            capture_output=True, text=True).stdout
    with open(os.path.join(OUT, f"{name}.logits"), "w") as f:
        f.write(f"# ids {ids}\n" + logits)
    print(name, os.path.getsize(model), "bytes")
