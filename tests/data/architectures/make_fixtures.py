#!/usr/bin/env python3
# Writes the tiny random-weight GGUF models of tests/data/architectures with llama.cpp's gguf-py
# writer, and their reference logits with llama.cpp itself (the oracle; never a dependency):
#   LLAMA_CPP=/path/to/llama.cpp LLAMA_LOGITS=/path/to/llama-logits \
#     /usr/bin/python3 tests/data/architectures/make_fixtures.py tests/data/architectures
# llama-logits is a 40-line program against libllama that prints every position's logits (%.9g)
# for a comma-separated id list, as `favor logits` prints them. Needs numpy (Debian python3-numpy).
import json
import os
import struct
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
    return tokens, merges


def write_safetensors(path, tensors):
    """The safetensors format: an 8-byte header length, a JSON header, the raw little-endian data."""
    header, offset, blobs = {}, 0, []
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def hugging_face_directory(directory, model_class, config, tensors, vocab_tokens, merges):
    """The same model as a Hugging Face directory (GGUF names mapped back to transformers')."""
    os.makedirs(directory, exist_ok=True)
    names = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
    parts = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
             "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
             "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
             "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
    hf = {}
    for name, array in tensors.items():
        stem, kind = name.rsplit(".", 1)
        if stem.startswith("blk."):
            _, layer, part = stem.split(".", 2)
            hf[f"model.layers.{layer}.{parts[part]}.{kind}"] = array
        else:
            hf[f"{names[stem]}.{kind}"] = array
    write_safetensors(os.path.join(directory, "model.safetensors"), hf)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(dict(config, architectures=[model_class]), f, indent=1)
    tokenizer = {
        "version": "1.0", "added_tokens": [], "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
        "post_processor": None, "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": {t: i for i, t in enumerate(vocab_tokens)},
                  "merges": merges, "byte_fallback": False}}
    with open(os.path.join(directory, "tokenizer.json"), "w") as f:
        json.dump(tokenizer, f, ensure_ascii=False)


def llama3_rope_factors(theta, head_dim, scaling):
    """Llama 3.1's per-frequency divisors, as transformers and llama.cpp's converter compute them."""
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    original = scaling["original_max_position_embeddings"]
    factors = []
    for i in range(0, head_dim, 2):
        freq = 1.0 / theta ** (i / head_dim)
        wavelength = 2 * np.pi / freq
        if wavelength < original / high:
            factors.append(1.0)
        elif wavelength > original / low:
            factors.append(factor)
        else:
            smooth = (original / wavelength - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(factors, dtype=np.float32)


def unpermute(weights, n_head):
    """GGUF's llama q/k rows (pairs made adjacent by llama.cpp's converter) back to HF's halves."""
    return (weights.reshape(n_head, weights.shape[0] // n_head // 2, 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def decoder(path, rng, arch, biases=False, hf_class=None, theta=10000.0, rope_scaling=None,
            permuted_qk=False):
    dim, layers, heads, kv_heads, ffn, vocab = 64, 2, 4, 2, 96, 272
    head_dim = dim // heads
    w = gguf.GGUFWriter(path, arch)
    w.add_context_length(128)
    w.add_embedding_length(dim)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(theta)
    w.add_rope_dimension_count(head_dim)
    vocab_tokens, merges = byte_vocabulary(w, vocab)
    tensors = {}

    def t(name, *shape, scale=0.08, base=0.0):
        tensors[name] = (base + scale * rng.standard_normal(shape)).astype(np.float32)
        w.add_tensor(name, tensors[name])

    t("token_embd.weight", vocab, dim, scale=0.5)
    t("output_norm.weight", dim, scale=0.1, base=1.0)
    t("output.weight", vocab, dim)
    if rope_scaling:
        tensors["rope_freqs.weight"] = llama3_rope_factors(theta, head_dim, rope_scaling)
        w.add_tensor("rope_freqs.weight", tensors["rope_freqs.weight"])
    for i in range(layers):
        p = f"blk.{i}."
        t(p + "attn_norm.weight", dim, scale=0.1, base=1.0)
        t(p + "attn_q.weight", dim, dim, scale=0.2)
        t(p + "attn_k.weight", kv_heads * head_dim, dim, scale=0.2)
        t(p + "attn_v.weight", kv_heads * head_dim, dim)
        if biases:
            t(p + "attn_q.bias", dim, scale=0.3)
            t(p + "attn_k.bias", kv_heads * head_dim, scale=0.3)
            t(p + "attn_v.bias", kv_heads * head_dim, scale=0.3)
        t(p + "attn_output.weight", dim, dim)
        t(p + "ffn_norm.weight", dim, scale=0.1, base=1.0)
        t(p + "ffn_gate.weight", ffn, dim)
        t(p + "ffn_up.weight", ffn, dim)
        t(p + "ffn_down.weight", dim, ffn)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    if hf_class:
        config = {"model_type": arch, "hidden_size": dim, "num_hidden_layers": layers,
                  "num_attention_heads": heads, "num_key_value_heads": kv_heads,
                  "intermediate_size": ffn, "vocab_size": vocab, "max_position_embeddings": 128,
                  "rms_norm_eps": 1e-5, "rope_theta": theta, "tie_word_embeddings": False,
                  "bos_token_id": 1, "eos_token_id": 2}
        if rope_scaling:
            config["rope_scaling"] = dict(rope_scaling, rope_type="llama3")
            del tensors["rope_freqs.weight"]  # Hugging Face derives it from the config.
        if permuted_qk:
            for i in range(layers):
                q, k = f"blk.{i}.attn_q.weight", f"blk.{i}.attn_k.weight"
                tensors[q] = unpermute(tensors[q], heads)
                tensors[k] = unpermute(tensors[k], kv_heads)
        hugging_face_directory(path[:-len(".gguf")] + "-hf", hf_class, config, tensors,
                               vocab_tokens, [m.split(" ") for m in merges])


FIXTURES = {
    "llama": lambda path, rng: decoder(path, rng, "llama"),
    # Qwen2: biases on q/k/v; its GGUF keeps the rotary halves (llama.cpp's NEOX rope). The same
    # weights as a Hugging Face directory check the safetensors route against llama.cpp too.
    "qwen2": lambda path, rng: decoder(path, rng, "qwen2", biases=True, hf_class="Qwen2ForCausalLM"),
    # Llama 3.1+: RoPE scaling of type llama3 (GGUF: the rope_freqs tensor; Hugging Face:
    # config.json's rope_scaling), with an original context short enough that the scaled
    # frequencies matter within 16 tokens; the HF copy has q/k rows back in the halves order.
    "llama3": lambda path, rng: decoder(
        path, rng, "llama", hf_class="LlamaForCausalLM", theta=500000.0, permuted_qk=True,
        rope_scaling={"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 64}),
}

for name, build in FIXTURES.items():
    model = os.path.join(OUT, f"{name}.gguf")
    build(model, np.random.default_rng(1234))
    ids = ",".join(str(i) for i in IDS)
    logits = subprocess.run([os.environ["LLAMA_LOGITS"], model, ids], check=True,
                            capture_output=True, text=True).stdout
    with open(os.path.join(OUT, f"{name}.logits"), "w") as f:
        f.write(f"# ids {ids}\n" + logits)
    print(name, os.path.getsize(model), "bytes")
