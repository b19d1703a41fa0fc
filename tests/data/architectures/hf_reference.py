#!/usr/bin/env python3
# A float64 reference forward pass of a Hugging Face model directory (config.json and
# model.safetensors), written from the transformers model definitions of each family (Llama,
# Mistral, Qwen2, Gemma, Gemma 2, Phi-3, GPT-2): an oracle independent of both favor and llama.cpp.
#   /usr/bin/python3 hf_reference.py DIRECTORY 1,15,27,...
# prints the logits of every position, one line each, as `favor logits` does. Needs numpy.
import json
import struct
import sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    dtypes = {"F32": np.float32, "F16": np.float16, "F64": np.float64}
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        raw = data[8 + length + begin:8 + length + end]
        tensors[name] = np.frombuffer(raw, dtype=dtypes[entry["dtype"]]).reshape(
            entry["shape"]).astype(np.float64)
    return tensors


def rms_norm(x, weight, eps, adds_one):
    normed = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
    return normed * ((1.0 + weight) if adds_one else weight)


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def silu(x):
    return x / (1.0 + np.exp(-x))


def rope_frequencies(config, head_dim):
    theta = config.get("rope_theta", 10000.0)
    inv = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    scaling = config.get("rope_scaling")
    if scaling:
        kind = scaling.get("rope_type", scaling.get("type"))
        if kind in ("longrope", "su"):
            # Short factors: the sequences here are within the original context.
            return inv / np.array(scaling["short_factor"], dtype=np.float64)
        factor = scaling["factor"]
        if kind == "linear":
            inv = inv / factor
        elif kind == "llama3":
            low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
            original = scaling["original_max_position_embeddings"]
            wavelength = 2 * np.pi / inv
            smooth = (original / wavelength - low) / (high - low)
            scaled = np.where(wavelength > original / low, inv / factor, inv)
            middle = (wavelength >= original / high) & (wavelength <= original / low)
            inv = np.where(middle, (1 - smooth) * inv / factor + smooth * inv, scaled)
        else:
            raise SystemExit(f"rope_scaling {kind} not in the reference")
    return inv


def rotate(x, positions, inv):
    """x: [T, heads, head_dim], rotating the two halves (transformers' rotate_half)."""
    angles = positions[:, None] * inv[None, :]
    cos = np.concatenate([np.cos(angles)] * 2, axis=-1)[:, None, :]
    sin = np.concatenate([np.sin(angles)] * 2, axis=-1)[:, None, :]
    half = x.shape[-1] // 2
    rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rotated * sin


def layer_norm(x, weight, bias, eps):
    centred = x - x.mean(axis=-1, keepdims=True)
    return centred / np.sqrt(np.mean(centred ** 2, axis=-1, keepdims=True) + eps) * weight + bias


def causal_attention(q, k, v, scale):
    """q: [T, heads, d], k and v: [T, kv_heads, d]; plain causal softmax attention."""
    T, heads, d = q.shape
    out = np.zeros_like(q)
    for head in range(heads):
        g = head // (heads // k.shape[1])
        scores = (q[:, head] @ k[:, g].T) * scale
        scores = np.where(np.tri(T, dtype=bool), scores, -np.inf)
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        out[:, head] = (scores / scores.sum(axis=1, keepdims=True)) @ v[:, g]
    return out.reshape(T, heads * d)


def gpt2_forward(config, w, ids):
    """transformers' GPT2LMHeadModel: Conv1D weights [in, out] (x @ W + b), gelu_new."""
    w = {name.removeprefix("transformer."): value for name, value in w.items()}
    dim, heads, eps = config["n_embd"], config["n_head"], config["layer_norm_epsilon"]
    T = len(ids)
    x = w["wte.weight"][ids] + w["wpe.weight"][:T]
    for layer in range(config["n_layer"]):
        p = f"h.{layer}."
        h = layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = (part.reshape(T, heads, dim // heads) for part in np.split(qkv, 3, axis=-1))
        attention = causal_attention(q, k, v, (dim // heads) ** -0.5)
        x = x + attention @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        h = layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        h = gelu_tanh(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        x = x + h @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    x = layer_norm(x, w["ln_f.weight"], w["ln_f.bias"], eps)
    return x @ w.get("lm_head.weight", w["wte.weight"]).T


def forward(directory, ids):
    config = json.load(open(f"{directory}/config.json"))
    w = read_safetensors(f"{directory}/model.safetensors")
    kind = config["model_type"]
    if kind == "gpt2":
        return gpt2_forward(config, w, ids)
    gemma = kind in ("gemma", "gemma2")
    dim, layers = config["hidden_size"], config["num_hidden_layers"]
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads", heads)
    head_dim = config.get("head_dim") or dim // heads
    eps = config.get("rms_norm_eps", 1e-6)
    window = config.get("sliding_window") if kind in ("mistral", "phi3", "gemma2") else None
    attention_cap = config.get("attn_logit_softcapping") if kind == "gemma2" else None
    final_cap = config.get("final_logit_softcapping") if kind == "gemma2" else None
    scale = (config["query_pre_attn_scalar"] ** -0.5 if kind == "gemma2"
             else head_dim ** -0.5)
    inv = rope_frequencies(config, head_dim)
    magnitude = 1.0  # Longrope's attention factor on cos and sin.
    scaling = config.get("rope_scaling") or {}
    if scaling.get("type") in ("longrope", "su"):
        original = config["original_max_position_embeddings"]
        extension = config["max_position_embeddings"] / original
        magnitude = scaling.get("attention_factor") or (
            np.sqrt(1 + np.log(extension) / np.log(original)) if extension > 1 else 1.0)
        assert len(ids) <= original, "long factors not in the reference"

    T = len(ids)
    positions = np.arange(T, dtype=np.float64)
    x = w["model.embed_tokens.weight"][ids]
    if gemma:
        x = x * np.sqrt(dim)
    for layer in range(layers):
        p = f"model.layers.{layer}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps, gemma)
        if kind == "phi3":
            qkv = h @ w[p + "self_attn.qkv_proj.weight"].T
            q_dim, kv_dim = heads * head_dim, kv_heads * head_dim
            q, k, v = qkv[:, :q_dim], qkv[:, q_dim:q_dim + kv_dim], qkv[:, q_dim + kv_dim:]
        else:
            q = h @ w[p + "self_attn.q_proj.weight"].T
            k = h @ w[p + "self_attn.k_proj.weight"].T
            v = h @ w[p + "self_attn.v_proj.weight"].T
            if p + "self_attn.q_proj.bias" in w:
                q, k, v = (q + w[p + "self_attn.q_proj.bias"], k + w[p + "self_attn.k_proj.bias"],
                           v + w[p + "self_attn.v_proj.bias"])
        q = magnitude * rotate(q.reshape(T, heads, head_dim), positions, inv)
        k = magnitude * rotate(k.reshape(T, kv_heads, head_dim), positions, inv)
        v = v.reshape(T, kv_heads, head_dim)
        local = window is not None and (kind != "gemma2" or layer % 2 == 0)
        out = np.zeros((T, heads, head_dim))
        for head in range(heads):
            g = head // (heads // kv_heads)
            scores = (q[:, head] @ k[:, g].T) * scale
            if attention_cap:
                scores = attention_cap * np.tanh(scores / attention_cap)
            query, key = np.arange(T)[:, None], np.arange(T)[None, :]
            visible = key <= query
            if local:
                visible &= key > query - window
            scores = np.where(visible, scores, -np.inf)
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
            out[:, head] = (scores / scores.sum(axis=1, keepdims=True)) @ v[:, g]
        attention = out.reshape(T, heads * head_dim) @ w[p + "self_attn.o_proj.weight"].T
        if kind == "gemma2":
            attention = rms_norm(attention, w[p + "post_attention_layernorm.weight"], eps, True)
            x = x + attention
            f = rms_norm(x, w[p + "pre_feedforward_layernorm.weight"], eps, True)
        else:
            x = x + attention
            f = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps, gemma)
        if kind == "phi3":
            gate, up = np.split(f @ w[p + "mlp.gate_up_proj.weight"].T, 2, axis=-1)
        else:
            gate, up = f @ w[p + "mlp.gate_proj.weight"].T, f @ w[p + "mlp.up_proj.weight"].T
        down = ((gelu_tanh(gate) if gemma else silu(gate)) * up) @ w[p + "mlp.down_proj.weight"].T
        if kind == "gemma2":
            down = rms_norm(down, w[p + "post_feedforward_layernorm.weight"], eps, True)
        x = x + down
    x = rms_norm(x, w["model.norm.weight"], eps, gemma)
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    logits = x @ head.T
    if final_cap:
        logits = final_cap * np.tanh(logits / final_cap)
    return logits


if __name__ == "__main__":
    logits = forward(sys.argv[1], [int(i) for i in sys.argv[2].split(",")])
    for row in logits:
        print(" ".join(f"{value:.9g}" for value in row))
