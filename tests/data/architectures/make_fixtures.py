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


def hugging_face_directory(directory, model_class, config, tensors, vocab_tokens, merges,
                           parts=None):
    """The same model as a Hugging Face directory (GGUF names mapped back to transformers')."""
    os.makedirs(directory, exist_ok=True)
    names = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
    parts = parts or HF_NAMES
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


def hyperparameters(w, dim, layers, ffn, heads, kv_heads, head_dim, theta, key_length=False):
    w.add_context_length(128)
    w.add_embedding_length(dim)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    if key_length:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(theta)
    w.add_rope_dimension_count(head_dim)


def decoder(path, rng, arch, biases=False, hf_class=None, theta=10000.0, rope_scaling=None,
            permuted_qk=False):
    dim, layers, heads, kv_heads, ffn, vocab = 64, 2, 4, 2, 96, 272
    head_dim = dim // heads
    w = gguf.GGUFWriter(path, arch)
    hyperparameters(w, dim, layers, ffn, heads, kv_heads, head_dim, theta)
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


HF_NAMES = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
            "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
            "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
            "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
HF_NAMES_BY_TYPE = {
    "gemma2": dict(HF_NAMES, ffn_norm="pre_feedforward_layernorm",
                   post_attention_norm="post_attention_layernorm",
                   post_ffw_norm="post_feedforward_layernorm"),
    "phi3": dict(HF_NAMES, attn_qkv="self_attn.qkv_proj", ffn_up="mlp.gate_up_proj"),
}


def family(path, rng, model_type, model_class, layers=2, dim=64, heads=4, kv_heads=2,
           head_dim=16, ffn=96, vocab=272, window=None, extra_config=None, gguf_arch=None):
    """A model in Hugging Face semantics (norm weights as transformers stores them, q/k rows in
    the rotary halves order), written as a Hugging Face directory and, when gguf_arch is given,
    as the GGUF llama.cpp's converter would make of it (Gemma's norms + 1, Phi-3's fused
    matrices under GGUF names)."""
    gemma = model_type in ("gemma", "gemma2")
    q_dim, kv_dim = heads * head_dim, kv_heads * head_dim
    tensors = {}

    def t(name, *shape, scale=0.08, base=0.0):
        tensors[name] = (base + scale * rng.standard_normal(shape)).astype(np.float32)

    norm_base = 0.0 if gemma else 1.0  # Gemma's norms are (1 + w): w near 0.
    t("token_embd.weight", vocab, dim, scale=0.5 / np.sqrt(dim) if gemma else 0.5)
    t("output_norm.weight", dim, scale=0.1, base=norm_base)
    if not gemma:
        t("output.weight", vocab, dim)
    for i in range(layers):
        p = f"blk.{i}."
        t(p + "attn_norm.weight", dim, scale=0.1, base=norm_base)
        if model_type == "phi3":
            t(p + "attn_qkv.weight", q_dim + 2 * kv_dim, dim, scale=0.2)
        else:
            t(p + "attn_q.weight", q_dim, dim, scale=0.2)
            t(p + "attn_k.weight", kv_dim, dim, scale=0.2)
            t(p + "attn_v.weight", kv_dim, dim)
        t(p + "attn_output.weight", dim, q_dim)
        t(p + "ffn_norm.weight", dim, scale=0.1, base=norm_base)
        if model_type == "phi3":
            t(p + "ffn_up.weight", 2 * ffn, dim)
        else:
            t(p + "ffn_gate.weight", ffn, dim)
            t(p + "ffn_up.weight", ffn, dim)
        t(p + "ffn_down.weight", dim, ffn)
        if model_type == "gemma2":
            t(p + "post_attention_norm.weight", dim, scale=0.1)
            t(p + "post_ffw_norm.weight", dim, scale=0.1)

    config = {"model_type": model_type, "hidden_size": dim, "num_hidden_layers": layers,
              "num_attention_heads": heads, "num_key_value_heads": kv_heads,
              "head_dim": head_dim, "intermediate_size": ffn, "vocab_size": vocab,
              "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
              "tie_word_embeddings": gemma, "bos_token_id": 1, "eos_token_id": 2,
              "sliding_window": window}
    config.update(extra_config or {})
    vocab_tokens, merges = None, None
    if gguf_arch:
        w = gguf.GGUFWriter(path, gguf_arch)
        hyperparameters(w, dim, layers, ffn, heads, kv_heads, head_dim, 10000.0, key_length=True)
        if window:
            w.add_sliding_window(window)
        scaling = config.get("rope_scaling")
        if scaling and scaling["type"] == "longrope":
            # As llama.cpp's converter writes Phi-3.5's: both factor lists as tensors, the
            # attention factor and the original context as metadata.
            original = config["original_max_position_embeddings"]
            scale = config["max_position_embeddings"] / original
            w.add_rope_scaling_attn_factors(float(np.sqrt(1 + np.log(scale) / np.log(original))))
            w.add_rope_scaling_orig_ctx_len(original)
            for kind in ("long", "short"):
                w.add_tensor(f"rope_factors_{kind}.weight",
                             np.array(scaling[f"{kind}_factor"], dtype=np.float32))
        if "attn_logit_softcapping" in config:
            w.add_attn_logit_softcapping(config["attn_logit_softcapping"])
            w.add_final_logit_softcapping(config["final_logit_softcapping"])
        vocab_tokens, merges = byte_vocabulary(w, vocab)
        for name, array in tensors.items():
            if gemma and name.endswith("norm.weight"):
                array = array + np.float32(1.0)  # llama.cpp's converter folds Gemma's (1 + w).
            w.add_tensor(name, array)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        directory = path[:-len(".gguf")] + "-hf"
    else:
        w = gguf.GGUFWriter(os.devnull, "llama")
        vocab_tokens, merges = byte_vocabulary(w, vocab)
        directory = path
    hugging_face_directory(directory, model_class, config, tensors, vocab_tokens,
                           [m.split(" ") for m in merges], HF_NAMES_BY_TYPE.get(model_type))
    return directory


def gpt2(path, rng, dim=32, layers=2, heads=4, vocab=272, context=128):
    """GPT-2: LayerNorm, GELU, learned positions, biases everywhere, fused c_attn. The GGUF is
    what llama.cpp's converter writes (Conv1D weights transposed to [out, in], the tied output
    head written out as output.weight); the Hugging Face directory keeps transformers' Conv1D
    [in, out] weights and GPT-2's config keys, with the 'transformer.' prefix."""
    ffn = 4 * dim
    tensors = {}

    def t(name, *shape, scale=0.08, base=0.0):
        tensors[name] = (base + scale * rng.standard_normal(shape)).astype(np.float32)

    t("token_embd.weight", vocab, dim, scale=0.5)
    t("position_embd.weight", context, dim, scale=0.3)
    t("output_norm.weight", dim, scale=0.1, base=1.0)
    t("output_norm.bias", dim, scale=0.1)
    for i in range(layers):
        p = f"blk.{i}."
        t(p + "attn_norm.weight", dim, scale=0.1, base=1.0)
        t(p + "attn_norm.bias", dim, scale=0.1)
        t(p + "attn_qkv.weight", 3 * dim, dim, scale=0.2)
        t(p + "attn_qkv.bias", 3 * dim, scale=0.3)
        t(p + "attn_output.weight", dim, dim)
        t(p + "attn_output.bias", dim, scale=0.1)
        t(p + "ffn_norm.weight", dim, scale=0.1, base=1.0)
        t(p + "ffn_norm.bias", dim, scale=0.1)
        t(p + "ffn_up.weight", ffn, dim, scale=0.2)
        t(p + "ffn_up.bias", ffn, scale=0.1)
        t(p + "ffn_down.weight", dim, ffn)
        t(p + "ffn_down.bias", dim, scale=0.1)
    w = gguf.GGUFWriter(path, "gpt2")
    w.add_context_length(context)
    w.add_embedding_length(dim)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_layer_norm_eps(1e-5)
    vocab_tokens, merges = byte_vocabulary(w, vocab)
    for name, array in tensors.items():
        w.add_tensor(name, array)
        if name == "token_embd.weight":
            w.add_tensor("output.weight", array)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    hf_names = {"token_embd": "wte", "position_embd": "wpe", "output_norm": "ln_f"}
    hf_parts = {"attn_norm": "ln_1", "attn_qkv": "attn.c_attn", "attn_output": "attn.c_proj",
                "ffn_norm": "ln_2", "ffn_up": "mlp.c_fc", "ffn_down": "mlp.c_proj"}
    hf = {}
    for name, array in tensors.items():
        stem, kind = name.rsplit(".", 1)
        if stem.startswith("blk."):
            _, layer, part = stem.split(".", 2)
            if kind == "weight" and part in ("attn_qkv", "attn_output", "ffn_up", "ffn_down"):
                array = np.ascontiguousarray(array.T)  # Conv1D: [in, out].
            hf[f"transformer.h.{layer}.{hf_parts[part]}.{kind}"] = array
        else:
            hf[f"transformer.{hf_names[stem]}.{kind}"] = array
    directory = path[:-len(".gguf")] + "-hf"
    os.makedirs(directory, exist_ok=True)
    write_safetensors(os.path.join(directory, "model.safetensors"), hf)
    config = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_embd": dim,
              "n_layer": layers, "n_head": heads, "n_inner": None, "n_positions": context,
              "vocab_size": vocab, "layer_norm_epsilon": 1e-5,
              "activation_function": "gelu_new", "bos_token_id": 1, "eos_token_id": 2}
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    tokenizer = {
        "version": "1.0", "added_tokens": [], "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
        "post_processor": None, "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": {t: i for i, t in enumerate(vocab_tokens)},
                  "merges": [m.split(" ") for m in merges], "byte_fallback": False}}
    with open(os.path.join(directory, "tokenizer.json"), "w") as f:
        json.dump(tokenizer, f, ensure_ascii=False)


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
    # Gemma: GeGLU, (1 + w) norms (GGUF: folded by the converter), sqrt(dim) embedding scale,
    # head_dim 16 with 4 heads over dim 48, tied output.
    "gemma": lambda path, rng: family(path, rng, "gemma", "GemmaForCausalLM", dim=48,
                                      gguf_arch="gemma"),
    # Gemma 2: post-norms, soft-capped scores and logits (caps small enough to bite on random
    # weights), even layers local with a window of 5 of the 16 tokens. 26 layers: llama.cpp
    # picks Gemma 2's query scale by layer count and knows 26, 42 and 46 only.
    "gemma2": lambda path, rng: family(
        path, rng, "gemma2", "Gemma2ForCausalLM", layers=26, dim=32, heads=2, kv_heads=1,
        ffn=32, window=5, gguf_arch="gemma2",
        extra_config={"query_pre_attn_scalar": 16, "attn_logit_softcapping": 1.5,
                      "final_logit_softcapping": 2.0}),
    # Phi-3: fused q/k/v and gate/up matrices, a sliding window of 6 on every layer.
    "phi3": lambda path, rng: family(path, rng, "phi3", "Phi3ForCausalLM", window=6,
                                     gguf_arch="phi3"),
    "gpt2": gpt2,
    # Phi-3.5: longrope with an original context of 48 of 128 (llama.cpp's context for 16 ids is
    # 32, within it, so both oracles use the short factors), attention factor
    # sqrt(1 + ln(128 / 48) / ln(48)).
    "phi3.5": lambda path, rng: family(
        path, rng, "phi3", "Phi3ForCausalLM", window=6, gguf_arch="phi3",
        extra_config={"original_max_position_embeddings": 48, "rope_scaling": {
            "type": "longrope",
            "short_factor": [float(f) for f in 1.0 + 2.0 * np.random.default_rng(7).random(8)],
            "long_factor": [float(f) for f in 4.0 + 8.0 * np.random.default_rng(8).random(8)]}}),
}

# Hugging Face directories with no GGUF twin: checked against the float64 reference alone.
REFERENCE_ONLY = {
    # Mistral: Llama with a sliding window (llama.cpp ignores windows on its llama architecture).
    "mistral-hf": lambda path, rng: family(path, rng, "mistral", "MistralForCausalLM", window=6),
    # Gemma 2 with a query scale of its own (query_pre_attn_scalar 24, head_dim 16), as the 27B
    # model has, at 2 layers.
    "gemma2-scalar-hf": lambda path, rng: family(
        path, rng, "gemma2", "Gemma2ForCausalLM", dim=32, heads=2, kv_heads=1, ffn=32, window=5,
        extra_config={"query_pre_attn_scalar": 24, "attn_logit_softcapping": 1.5,
                      "final_logit_softcapping": 2.0}),
}

REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hf_reference.py")
ids = ",".join(str(i) for i in IDS)


def reference_logits(directory):
    """The float64 reference's logits of a Hugging Face directory, written beside it."""
    text = subprocess.run([sys.executable, REFERENCE, directory, ids], check=True,
                          capture_output=True, text=True).stdout
    with open(os.path.join(directory, "reference.logits"), "w") as f:
        f.write(f"# ids {ids}\n" + text)
    return np.loadtxt(os.path.join(directory, "reference.logits"))


for name, build in FIXTURES.items():
    model = os.path.join(OUT, f"{name}.gguf")
    build(model, np.random.default_rng(1234))
    logits = subprocess.run([os.environ["LLAMA_LOGITS"], model, ids], check=True,
                            capture_output=True, text=True).stdout
    with open(os.path.join(OUT, f"{name}.logits"), "w") as f:
        f.write(f"# ids {ids}\n" + logits)
    print(name, os.path.getsize(model), "bytes")
    directory = os.path.join(OUT, f"{name}-hf")
    if os.path.isdir(directory):
        # The two oracles agree on the same weights, or one of them is wrong.
        expected = np.loadtxt(os.path.join(OUT, f"{name}.logits"))
        error = np.abs(reference_logits(directory) - expected).max() / np.abs(expected).max()
        print(f"  {name}-hf: float64 reference vs llama.cpp {error:.2e}")
        assert error < 1e-5, name

for name, build in REFERENCE_ONLY.items():
    directory = build(os.path.join(OUT, name), np.random.default_rng(1234))
    reference_logits(directory)
    print(name, "float64 reference only")
