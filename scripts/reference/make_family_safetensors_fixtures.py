#!/usr/bin/env python3
"""Tiny random Qwen2, Qwen3, Gemma 3 (text) and Mistral models in the Hugging Face layout, with
transformers' outputs (Tests/Fixtures/safetensors/<name>/, the format of
make_safetensors_fixtures.py, whose tokenizer training, seeding and reference code this reuses).

  qwen2   Q/K/V biases, GQA 4/2, untied head, Qwen2 pre-tokenizer (one digit per word)
  qwen3   per-head q/k RMSNorm, head_dim 32 on hidden 64 (not 64 / 4), tied head, stored in BF16
  gemma3  Gemma3ForCausalLM: 1 + w norms (four per block and q/k), scaled embeddings, GELU-tanh
          gate, 5 layers of which 1 and 3 are global and the others slide over a window of 4
          with a rotary base of their own, query_pre_attn_scalar 24 (attention scale 24^-1/2,
          not head_dim^-1/2), 4 heads / 1 KV head of 32, tied head; Gemma's norm weights are
          drawn around 0 (scale 1 + w near 1)
  mistral MistralForCausalLM: head_dim 32 on hidden 64 (as Mistral Nemo's 128 on 5120), GQA 4/2,
          rope_theta 1e6, sliding_window 4096 (longer than the 128 positions: full attention)

Usage: VENV=... scripts/reference/make_safetensors_fixtures.sh is the virtualenv; run this
file with its python (scripts/reference/make_family_safetensors_fixtures.sh does).
"""
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_safetensors_fixtures as st  # noqa: E402
from transformers import (Gemma3ForCausalLM, Gemma3TextConfig, MistralConfig, MistralForCausalLM,  # noqa: E402
                          Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM)

OUT = os.path.join(HERE, "..", "..", "Tests", "Fixtures", "safetensors")
QWEN2_SPLIT = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
               "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")


def qwen(out_dir, kind, first_seed):
    raw = st.train_tokenizer(st.split_then_bytes(QWEN2_SPLIT), ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], 400)
    eos = raw.token_to_id("<|im_end|>")

    def build(seed):
        common = dict(vocab_size=raw.get_vocab_size(), hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-6,
                      rope_theta=10000.0, bos_token_id=None, eos_token_id=eos)
        torch.manual_seed(seed)
        if kind == "qwen2":
            model = Qwen2ForCausalLM(Qwen2Config(**common, tie_word_embeddings=False))
        else:
            model = Qwen3ForCausalLM(Qwen3Config(**common, head_dim=32, tie_word_embeddings=True))
        st.randomize(model, seed=seed, std=0.15)
        return model

    hf = st.fast_tokenizer(raw, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    if kind == "qwen2":
        variants = [("qwen2", torch.float32, "Qwen2, 3 layers, hidden 64, 4 heads / 2 KV heads, Q/K/V biases, untied head")]
    else:
        variants = [("qwen3-bf16", torch.bfloat16,
                     "Qwen3, 3 layers, hidden 64, 4 heads / 2 KV heads of 32, q/k RMSNorm, tied head; stored in BF16")]
    st.make_fixtures(out_dir, variants, build, first_seed, hf_tok=hf, raw_tok=raw, add_special=False)


def gemma3(out_dir):
    raw = st.train_tokenizer(st.split_then_bytes(st.LLAMA3_SPLIT), ["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"],
                             420, bos="<bos>")

    def build(seed):
        config = Gemma3TextConfig(
            vocab_size=raw.get_vocab_size(), hidden_size=64, intermediate_size=128, num_hidden_layers=5,
            num_attention_heads=4, num_key_value_heads=1, head_dim=32, sliding_window=4,
            layer_types=["sliding_attention", "full_attention", "sliding_attention", "full_attention", "sliding_attention"],
            rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 1000000.0},
                             "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}},
            max_position_embeddings=128, query_pre_attn_scalar=24, rms_norm_eps=1e-6, tie_word_embeddings=True,
            pad_token_id=0, eos_token_id=1, bos_token_id=2)
        torch.manual_seed(seed)
        model = Gemma3ForCausalLM(config)
        st.randomize(model, seed=seed, std=0.15)
        with torch.no_grad():  # Gemma scales by 1 + w: draw w around 0
            for name, p in model.named_parameters():
                if p.dim() == 1:
                    p.sub_(1)
        return model

    hf = st.fast_tokenizer(raw, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>")
    notes = ("Gemma 3 text, 5 layers (1 and 3 global, the others sliding over 4 positions), hidden 64, 4 heads / 1 KV "
             "head of 32, query_pre_attn_scalar 24, rope 1e6 / 1e4, tied head, BOS")
    st.make_fixtures(out_dir, [("gemma3", torch.float32, notes)], build, 500, hf_tok=hf, raw_tok=raw, add_special=True)


def mistral(out_dir):
    raw = st.train_tokenizer(st.split_then_bytes(st.LLAMA3_SPLIT), ["<unk>", "<s>", "</s>"], 400,
                             ignore_merges=True, bos="<s>")

    def build(seed):
        config = MistralConfig(vocab_size=raw.get_vocab_size(), hidden_size=64, intermediate_size=160, num_hidden_layers=3,
                               num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=128,
                               rms_norm_eps=1e-5, rope_theta=1000000.0, sliding_window=4096, tie_word_embeddings=False,
                               bos_token_id=1, eos_token_id=2)
        torch.manual_seed(seed)
        model = MistralForCausalLM(config)
        st.randomize(model, seed=seed, std=0.15)
        return model

    hf = st.fast_tokenizer(raw, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    notes = "Mistral, 3 layers, hidden 64, 4 heads / 2 KV heads of 32 (head_dim != hidden / heads), rope_theta 1e6, BOS"
    st.make_fixtures(out_dir, [("mistral", torch.float32, notes)], build, 600, hf_tok=hf, raw_tok=raw, add_special=True)


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    out = os.path.abspath(OUT)
    names = sys.argv[1:] or ["qwen2", "qwen3", "gemma3", "mistral"]
    if "qwen2" in names:
        qwen(out, "qwen2", 400)
    if "qwen3" in names:
        qwen(out, "qwen3", 450)
    if "gemma3" in names:
        gemma3(out)
    if "mistral" in names:
        mistral(out)


if __name__ == "__main__":
    main()
