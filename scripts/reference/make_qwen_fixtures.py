#!/usr/bin/env python3
"""Tiny random Qwen2 and Qwen3 models, converted to GGUF by the vendored llama.cpp's
convert_hf_to_gguf.py, with llama.cpp's outputs on them (Tests/Fixtures/gguf-tiny/).

For each architecture: a byte-level BPE tokenizer trained on the safetensors fixtures' corpus
with Qwen2's pre-tokenizer regex, a model with seeded random weights (every parameter, biases
and norm weights included), saved as Hugging Face does, converted to GGUF (F32 and Q8_0), and
run by llama.cpp (scripts/reference/llama_reference.c): the logits of each prompt's last
position and 20 greedy tokens.

  qwen2  grouped-query attention, Q/K/V biases, untied head
  qwen3  per-head RMSNorm of q and k, no biases, head size 32 (not embedding / heads = 16),
         tied head

Usage: scripts/reference/make_qwen_fixtures.sh [LLAMA_DIR]   (default /opt/llama-ref)
"""
import json, os, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_safetensors_fixtures as st  # noqa: E402  (corpus, tokenizer training, randomize)
import make_llama_fixtures as ll  # noqa: E402  (llama_reference build and run)

import torch  # noqa: E402
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM  # noqa: E402

OUT = os.path.join(ll.ROOT, "Tests", "Fixtures", "gguf-tiny")
QWEN2_SPLIT = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
               "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
GREEDY = 20


def tokenizer():
    raw = st.train_tokenizer(st.split_then_bytes(QWEN2_SPLIT), SPECIALS, vocab_size=400)
    return raw, PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="<|im_end|>", pad_token="<|endoftext|>")


def build(kind, vocab, seed):
    common = dict(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-6,
                  rope_theta=10000.0, bos_token_id=None, eos_token_id=2)
    if kind == "qwen2":
        config = Qwen2Config(**common, tie_word_embeddings=False)
        model = Qwen2ForCausalLM(config)
    else:
        config = Qwen3Config(**common, head_dim=32, tie_word_embeddings=True)
        model = Qwen3ForCausalLM(config)
    st.randomize(model, seed, std=0.15)
    return model


def main():
    os.makedirs(OUT, exist_ok=True)
    raw, hf_tok = tokenizer()
    with tempfile.TemporaryDirectory() as tmp:
        exe = ll.build_tool(tmp)
        fixtures = []
        for kind, seed in (("qwen2", 21), ("qwen3", 31)):
            model = build(kind, raw.get_vocab_size(), seed)
            hf_dir = os.path.join(tmp, kind)
            model.save_pretrained(hf_dir)
            hf_tok.save_pretrained(hf_dir)
            for outtype in ("f32", "q8_0"):
                name = f"{kind}-tiny-{outtype}.gguf"
                path = os.path.join(OUT, name)
                ll.convert_hf(hf_dir, path, outtype, pre="qwen2")
                cases = ll.last_logits_and_greedy(exe, path, st.PROMPTS, GREEDY, tmp)
                fixtures.append({"file": name, "architecture": kind, "type": outtype, "weights_seed": seed,
                                 "cases": cases})
        about = {"reference": "llama.cpp " + ll.version() + " (vendored in llama-cpp-python 0.3.36)",
                 "generator": "scripts/reference/make_qwen_fixtures.py",
                 "settings": "n_ctx 512, 2 threads, F16 KV cache, no flash attention; greedy argmax, no BOS"}
        with open(os.path.join(OUT, "reference.json"), "w") as f:
            json.dump({"about": about, "fixtures": fixtures}, f, indent=1)
            f.write("\n")
    print("fixtures written to", OUT)


if __name__ == "__main__":
    main()
