#!/usr/bin/env python3
"""Tiny randomly initialised BLOOM, GPT-2 and Llama models with their reference outputs.

For each architecture this builds a small byte-level BPE tokenizer (trained on the text below
with the architecture's own pre-tokenizer), a model with fixed seeds and random weights (every
parameter, biases and norm weights included, so no code path is exercised by zeros and ones
only), saves both the way Hugging Face does (config.json, tokenizer.json, *.safetensors), and
records with transformers (eager attention, float32 arithmetic):

- the logits of every position of a few prompts (float32, base64);
- greedy continuations of those prompts, with the smallest top-1/top-2 logit margin seen, so a
  fixture whose greedy choice hangs on rounding is refused instead of committed;
- token ids and decoded text of varied strings, from the `tokenizers` library.

Fixtures (Tests/Fixtures/safetensors/<name>/):
  gpt2       F32, tensor names without the "transformer." prefix (as the hub's gpt2 file)
  gpt2-f16   the same model stored in F16 (reference computed from the F16 weights in float32)
  bloom-bf16 BF16, 6 heads (ALiBi slopes of a head count that is not a power of two)
  llama      F32, grouped-query attention, untied head, Llama 3 pre-tokenizer with BOS,
             sharded into several files with model.safetensors.index.json

Run through make_safetensors_fixtures.sh (a virtualenv with the pinned requirements).
"""
import argparse
import base64
import copy
import json
import os
import shutil
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (BloomConfig, BloomForCausalLM, GPT2Config, GPT2LMHeadModel, LlamaConfig,
                          LlamaForCausalLM, PreTrainedTokenizerFast)

CORPUS = """\
The capital of France is Paris. The capital of Italy is Rome, and the capital of Spain is Madrid.
Once upon a time there was a little robot who wanted to learn how to paint the sea.
It's a truth universally acknowledged that we'll need more tests; they're cheap, and you've seen why.
Numbers: 0 1 2 3 4 5 6 7 8 9, 10, 42, 128, 2048, 3.14159 and 1,000,000 items in 2026.
def add(a, b):
    return a + b  # returns the sum
print(add(2, 3)) == 5
Plumise nodes serve blocks of a transformer; clients chain them into a route over all blocks.
Café, naïve, Ünïcödé, résumé. 日本語のテキスト。中文，标点、符号。 हिन्दी। اردو۔ عربي،
Questions? Answers! Lists: one, two, three... and so on (with parentheses) | pipes.
"""

BLOOM_SPLIT = " ?[^(\\s|[.,!?…。，、।۔،])]+"
LLAMA3_SPLIT = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
                "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")

PROMPTS = [
    "The capital of France is",
    "Once upon a time, a little robot",
    "Numbers: 1, 2, 3, 42 and",
]

TOKENIZER_CASES = [
    "Hello world",
    "The capital of France is Paris.",
    "  two leading spaces and a trailing one ",
    "multiple   spaces\tand\ttabs\nand\n\nnewlines\r\n",
    "numbers 12345 and 3.14159, 1,000,000!",
    "don't you're I'll we've she'd it's I'M YOU'RE",
    "Ünïcödé café naïve résumé",
    "日本語のテキスト。中文，标点、符号。",
    "हिन्दी। اردو۔ عربي، emoji 🙂👍🏽",
    "a,b.c!d?e…f(g)h|i",
    "def add(a, b):\n    return a + b  # sum",
    "words the robot never saw: xylophone quokka zephyr",
    "specials<|endoftext|>in</s>text<|end_of_text|><s>",
]

GREEDY_TOKENS = 20
MIN_MARGIN = 0.01  # greedy choices must be decided by at least this (10x the logits tolerance)


def split_then_bytes(pattern):
    """A Split on `pattern` (matches and gaps kept), then ByteLevel without its own regex."""
    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])


def train_tokenizer(pre_tokenizer, specials, vocab_size, ignore_merges=False, bos=None):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS.splitlines(), trainer=trainer)
    if bos is not None:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def randomize(model, seed, std):
    """Every parameter drawn from a seeded generator: matrices N(0, std), biases N(0, 0.1),
    norm weights 1 + N(0, 0.2)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            noise = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if name.endswith(".bias"):
                p.copy_(0.1 * noise)
            elif p.dim() == 1:
                p.copy_(1 + 0.2 * noise)
            else:
                p.copy_(std * noise)


def floats_b64(array):
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode()


def reference(model, hf_tok, raw_tok, add_special):
    model.eval()
    prompts = []
    with torch.no_grad():
        for text in PROMPTS:
            ids = raw_tok.encode(text, add_special_tokens=add_special).ids
            logits = model(torch.tensor([ids])).logits[0].float().numpy()
            sequence = list(ids)
            margins = []
            for _ in range(GREEDY_TOKENS):
                step = model(torch.tensor([sequence])).logits[0, -1].float()
                top = torch.topk(step, 2)
                margins.append(float(top.values[0] - top.values[1]))
                sequence.append(int(top.indices[0]))
            prompts.append({
                "text": text, "ids": ids, "vocab": int(logits.shape[1]),
                "logits_float32_le_base64": floats_b64(logits),
                "max_abs_logit": float(np.abs(logits).max()),
                "greedy_ids": sequence[len(ids):], "greedy_min_margin": min(margins),
            })
    tokenizer_cases = []
    for text in TOKENIZER_CASES:
        ids = raw_tok.encode(text, add_special_tokens=False).ids
        tokenizer_cases.append({
            "text": text, "ids": ids,
            "decoded": raw_tok.decode(ids, skip_special_tokens=False),
            "decoded_skipping_special": raw_tok.decode(ids, skip_special_tokens=True),
        })
        assert hf_tok(text, add_special_tokens=False)["input_ids"] == ids
    return prompts, tokenizer_cases


def save_fixture(directory, model, hf_tok, raw_tok, add_special, dtype, notes, seed, shard_size=None,
                 strip_prefix=None, string_merges=False):
    """Saves one fixture and its reference; returns the smallest greedy margin."""
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    stored = copy.deepcopy(model).to(dtype)
    if shard_size:
        stored.save_pretrained(directory, max_shard_size=shard_size)
    else:
        stored.save_pretrained(directory)
    hf_tok.save_pretrained(directory)
    tokenizer_path = os.path.join(directory, "tokenizer.json")
    if string_merges:
        # BLOOM's own tokenizer.json keeps merges as "a b" strings (older tokenizers); so does this one.
        with open(tokenizer_path) as f:
            data = json.load(f)
        data["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in data["model"]["merges"]]
        with open(tokenizer_path, "w") as f:
            json.dump(data, f, indent=2, ensure_ascii=False)
    if strip_prefix:
        # Named as the hub's gpt2 checkpoint is: without the model prefix.
        path = os.path.join(directory, "model.safetensors")
        tensors = load_file(path)
        save_file({k[len(strip_prefix):] if k.startswith(strip_prefix) else k: v for k, v in tensors.items()},
                  path, metadata={"format": "pt"})
    # The reference is computed from exactly the stored files: weights in float32 arithmetic, and
    # the tokenizer as saved.
    reloaded = type(model).from_pretrained(directory, dtype=torch.float32, attn_implementation="eager")
    saved_tok = Tokenizer.from_file(tokenizer_path)
    prompts, tokenizer_cases = reference(reloaded, hf_tok, saved_tok, add_special)
    with open(os.path.join(directory, "reference.json"), "w") as f:
        json.dump({"architecture": model.config.model_type, "dtype": str(dtype).replace("torch.", ""),
                   "notes": notes, "weights_seed": seed, "prompts": prompts, "tokenizer": tokenizer_cases},
                  f, indent=1, ensure_ascii=False)
        f.write("\n")
    return min(p["greedy_min_margin"] for p in prompts)


def make_fixtures(out_dir, variants, build, first_seed, **options):
    """Builds the model with seeds first_seed, first_seed + 1, ... and keeps the first one whose
    greedy choices are all decided by at least MIN_MARGIN in every variant (name, dtype, notes):
    a continuation that hangs on the last bits of rounding would make a flaky test."""
    for seed in range(first_seed, first_seed + 50):
        model = build(seed)
        staging = tempfile.mkdtemp()
        margins = {name: save_fixture(os.path.join(staging, name), model, seed=seed, dtype=dtype, notes=notes, **options)
                   for name, dtype, notes in variants}
        if min(margins.values()) >= MIN_MARGIN:
            for name, _, _ in variants:
                target = os.path.join(out_dir, name)
                shutil.rmtree(target, ignore_errors=True)
                shutil.move(os.path.join(staging, name), target)
                total = sum(os.path.getsize(os.path.join(target, n)) for n in os.listdir(target))
                print(f"{name}: seed {seed}, {total / 1e6:.2f} MB, smallest greedy margin {margins[name]:.4f}, "
                      f"files {sorted(os.listdir(target))}")
            shutil.rmtree(staging)
            return
        print(f"seed {seed}: smallest greedy margin {min(margins.values()):.4f} < {MIN_MARGIN}, trying the next")
        shutil.rmtree(staging)
    raise SystemExit(f"no seed in [{first_seed}, {first_seed + 50}) gives greedy margins of {MIN_MARGIN}")


def fast_tokenizer(raw_tok, **specials):
    return PreTrainedTokenizerFast(tokenizer_object=raw_tok, clean_up_tokenization_spaces=False, **specials)


def gpt2(out_dir):
    raw = train_tokenizer(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True), ["<|endoftext|>"], 400)
    eot = raw.token_to_id("<|endoftext|>")

    def build(seed):
        config = GPT2Config(vocab_size=raw.get_vocab_size(), n_positions=64, n_embd=64, n_layer=3, n_head=4,
                            activation_function="gelu_new", bos_token_id=eot, eos_token_id=eot)
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config)
        randomize(model, seed=seed, std=0.15)
        return model

    hf = fast_tokenizer(raw, bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    notes = "GPT-2, 3 layers, n_embd 64, 4 heads, gelu_new, 64 positions; tensor names without prefix"
    make_fixtures(out_dir, [("gpt2", torch.float32, notes), ("gpt2-f16", torch.float16, notes + "; stored in F16")],
                  build, 100, hf_tok=hf, raw_tok=raw, add_special=False, strip_prefix="transformer.")


def bloom(out_dir):
    raw = train_tokenizer(split_then_bytes(BLOOM_SPLIT), ["<unk>", "<s>", "</s>", "<pad>"], 420)

    def build(seed):
        config = BloomConfig(vocab_size=raw.get_vocab_size(), hidden_size=96, n_layer=3, n_head=6,
                             bos_token_id=1, eos_token_id=2, pad_token_id=3, unk_token_id=0)
        torch.manual_seed(seed)
        model = BloomForCausalLM(config)
        randomize(model, seed=seed, std=0.12)
        return model

    hf = fast_tokenizer(raw, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    notes = "BLOOM, 3 layers, hidden 96, 6 heads (ALiBi), stored in BF16; merges as 'a b' strings"
    make_fixtures(out_dir, [("bloom-bf16", torch.bfloat16, notes)], build, 200,
                  hf_tok=hf, raw_tok=raw, add_special=False, string_merges=True)


def llama(out_dir):
    raw = train_tokenizer(split_then_bytes(LLAMA3_SPLIT), ["<|begin_of_text|>", "<|end_of_text|>"], 400,
                          ignore_merges=True, bos="<|begin_of_text|>")

    def build(seed):
        config = LlamaConfig(vocab_size=raw.get_vocab_size(), hidden_size=64, intermediate_size=160,
                             num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
                             max_position_embeddings=128, rms_norm_eps=1e-5, rope_theta=10000.0,
                             tie_word_embeddings=False, bos_token_id=raw.token_to_id("<|begin_of_text|>"),
                             eos_token_id=raw.token_to_id("<|end_of_text|>"))
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
        randomize(model, seed=seed, std=0.15)
        return model

    hf = fast_tokenizer(raw, bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>")
    notes = "Llama, 3 layers, hidden 64, 4 heads / 2 KV heads, untied head, Llama 3 pre-tokenizer with BOS; sharded"
    make_fixtures(out_dir, [("llama", torch.float32, notes)], build, 300,
                  hf_tok=hf, raw_tok=raw, add_special=True, shard_size="250KB")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "safetensors"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    gpt2(out)
    bloom(out)
    llama(out)


if __name__ == "__main__":
    main()
