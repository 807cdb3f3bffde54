#!/usr/bin/env python3
"""Converts a llama GGUF file into a Hugging Face safetensors directory, dequantized to F32.

    gguf_to_safetensors.py models/SmolLM2-135M-Instruct.Q4_1.gguf models/SmolLM2-135M-Instruct-dequantized

Writes config.json (LlamaForCausalLM), tokenizer.json (byte-level BPE from the GGUF vocabulary
and merges), tokenizer_config.json (special tokens, chat template) and model.safetensors with
Hugging Face tensor names. Every weight is dequantized with gguf-py to float32 (d * q + m,
exactly the values the GGUF kernels multiply with). llama.cpp's converter permutes the rows of
q_proj and k_proj so that rotary embeddings rotate adjacent pairs (its "normal" rope); Hugging
Face rotates the two halves of each head ("neox"), so those rows are permuted back here.

Needs numpy, gguf and safetensors only (no torch). --f32-gguf also writes the dequantized weights
as an F32 GGUF file (llama.cpp's layout), so both model-format plugins can run the very same
numbers. --record-transformers (needs torch and transformers) runs the converted directory with
transformers and records its greedy continuations (Tests/Fixtures/smollm2/transformers_dequantized.json).
"""
import argparse
import json
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter
from gguf.quants import dequantize
from safetensors.numpy import save_file


def field(reader, key, default=None):
    f = reader.fields.get(key)
    if f is None:
        return default
    if f.types[0] == GGUFValueType.ARRAY:
        if f.types[1] == GGUFValueType.STRING:
            return [bytes(f.parts[i]).decode("utf-8") for i in f.data]
        return [f.parts[i].tolist()[0] for i in f.data]
    if f.types[0] == GGUFValueType.STRING:
        return bytes(f.parts[f.data[0]]).decode("utf-8")
    return f.parts[f.data[0]].tolist()[0]


def unpermute(weights, n_head):
    """Inverse of llama.cpp's permute(): GGUF rows (head, pair, 2) back to HF rows (head, 2, half)."""
    rows = weights.shape[0]
    return (weights.reshape(n_head, rows // n_head // 2, 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def permute(weights, n_head):
    """llama.cpp's permute() (convert_hf_to_gguf.py), to check the inverse."""
    rows = weights.shape[0]
    return (weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


HF_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}


def convert_tensors(reader, n_head, n_head_kv):
    tensors = {}
    for t in reader.tensors:
        values = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32)
        # gguf-py gives numpy order (ggml dims reversed): rows x row length, as PyTorch stores it.
        values = values.reshape([int(d) for d in reversed(t.shape.tolist())])
        name = t.name
        if name == "token_embd.weight":
            hf = "model.embed_tokens.weight"
        elif name == "output_norm.weight":
            hf = "model.norm.weight"
        elif name == "output.weight":
            hf = "lm_head.weight"
        elif name.startswith("blk."):
            _, block, rest = name.split(".", 2)
            hf = f"model.layers.{block}.{HF_NAMES[rest]}"
            if rest == "attn_q.weight":
                values = unpermute(values, n_head)
                assert np.array_equal(permute(values, n_head), np.asarray(dequantize(t.data, t.tensor_type)).reshape(values.shape))
            elif rest == "attn_k.weight":
                values = unpermute(values, n_head_kv)
        else:
            raise SystemExit(f"unexpected tensor {name}")
        tensors[hf] = np.ascontiguousarray(values)
    return tensors


def tokenizer_json(reader):
    tokens = field(reader, "tokenizer.ggml.tokens")
    types = field(reader, "tokenizer.ggml.token_type", [1] * len(tokens))
    merges = field(reader, "tokenizer.ggml.merges", [])
    pre = field(reader, "tokenizer.ggml.pre", "gpt2")
    if field(reader, "tokenizer.ggml.model") != "gpt2":
        raise SystemExit("only byte-level BPE (tokenizer.ggml.model gpt2) vocabularies are converted")
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    if pre == "smollm":
        pre_tokenizer = {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, byte_level]}
    elif pre in ("gpt2", "gpt-2"):
        pre_tokenizer = byte_level
    else:
        raise SystemExit(f"pre-tokenizer {pre} is not converted")
    added = [{"id": i, "content": tok, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": types[i] == 3}
             for i, tok in enumerate(tokens) if types[i] in (3, 4)]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {tok: i for i, tok in enumerate(tokens)}, "merges": merges},
    }


def convert(source, target):
    reader = GGUFReader(source)
    arch = field(reader, "general.architecture")
    if arch != "llama":
        raise SystemExit(f"{source}: architecture {arch}, only llama is converted")
    n_head = field(reader, "llama.attention.head_count")
    n_head_kv = field(reader, "llama.attention.head_count_kv", n_head)
    tokens = field(reader, "tokenizer.ggml.tokens")
    tensors = convert_tensors(reader, n_head, n_head_kv)
    tied = "lm_head.weight" not in tensors
    bos, eos = field(reader, "tokenizer.ggml.bos_token_id"), field(reader, "tokenizer.ggml.eos_token_id")
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": field(reader, "llama.embedding_length"),
        "intermediate_size": field(reader, "llama.feed_forward_length"),
        "num_hidden_layers": field(reader, "llama.block_count"),
        "num_attention_heads": n_head, "num_key_value_heads": n_head_kv,
        "max_position_embeddings": field(reader, "llama.context_length"),
        # The float32 value GGUF stores, written out in full so both sides read the same number.
        "rms_norm_eps": float(np.float32(field(reader, "llama.attention.layer_norm_rms_epsilon"))),
        "rope_theta": float(field(reader, "llama.rope.freq_base", 10000.0)),
        "hidden_act": "silu", "tie_word_embeddings": tied, "vocab_size": len(tokens),
        "bos_token_id": bos, "eos_token_id": eos, "torch_dtype": "float32",
        "attention_bias": False, "mlp_bias": False,
    }
    tokenizer_config = {
        "bos_token": tokens[bos] if bos is not None else None,
        "eos_token": tokens[eos] if eos is not None else None,
        "add_bos_token": bool(field(reader, "tokenizer.ggml.add_bos_token", False)),
        "clean_up_tokenization_spaces": False,
        "chat_template": field(reader, "tokenizer.chat_template"),
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": config["max_position_embeddings"],
    }
    os.makedirs(target, exist_ok=True)
    save_file(tensors, os.path.join(target, "model.safetensors.part"), metadata={"format": "pt"})
    with open(os.path.join(target, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(target, "tokenizer.json"), "w") as f:
        json.dump(tokenizer_json(reader), f, ensure_ascii=False)
    with open(os.path.join(target, "tokenizer_config.json"), "w") as f:
        json.dump(tokenizer_config, f, indent=2, ensure_ascii=False)
    os.chmod(os.path.join(target, "model.safetensors.part"), 0o644)
    os.replace(os.path.join(target, "model.safetensors.part"), os.path.join(target, "model.safetensors"))
    print(f"{target}: {len(tensors)} tensors, F32, tied head: {tied}")


def write_f32_gguf(reader, path):
    """The same model as a GGUF file with every tensor dequantized to F32 (same names, same
    llama.cpp row order, same metadata but the file type), for the GGUF plugin to run the very
    weights the safetensors directory holds."""
    arch = field(reader, "general.architecture")
    writer = GGUFWriter(path + ".part", arch)
    for key, f in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        value = field(reader, key)
        if key == "general.file_type":
            value = 0  # ALL_F32
        sub_type = f.types[1] if f.types[0] == GGUFValueType.ARRAY else None
        writer.add_key_value(key, value, f.types[0], sub_type=sub_type)
    for t in reader.tensors:
        values = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32)
        writer.add_tensor(t.name, values.reshape([int(d) for d in reversed(t.shape.tolist())]),
                          raw_dtype=GGMLQuantizationType.F32)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(path + ".part", path)
    print(f"{path}: {len(reader.tensors)} tensors, F32")


def record_transformers(target, prompts_fixture, out):
    """Runs the converted model with transformers (float32, eager attention) on the prompts of
    the llama.cpp fixture and writes its greedy tokens (32, not stopping at end of generation)
    and the prefill logits of the first prompts, with how far llama.cpp's continuations agree."""
    import base64
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model = LlamaForCausalLM.from_pretrained(target, dtype=torch.float32, attn_implementation="eager").eval()
    tok = AutoTokenizer.from_pretrained(target)
    with open(prompts_fixture) as f:
        cases = json.load(f)["cases"]
    records = []
    with torch.no_grad():
        for index, case in enumerate(cases):
            ids = case["prompt_ids"]
            assert tok(case["prompt"], add_special_tokens=False)["input_ids"] == ids, case["prompt"]
            sequence = list(ids)
            margins = []
            for step in range(32):
                logits = model(torch.tensor([sequence])).logits[0, -1]
                top = torch.topk(logits, 2)
                margins.append(float(top.values[0] - top.values[1]))
                if step == 0 and index < 2:
                    prefill = base64.b64encode(logits.numpy().astype("<f4").tobytes()).decode()
                sequence.append(int(top.indices[0]))
            generated = sequence[len(ids):]
            llama_cpp = case["generated_ids"]
            same = next((i for i, (a, b) in enumerate(zip(generated, llama_cpp)) if a != b), min(len(generated), len(llama_cpp)))
            record = {"prompt": case["prompt"], "prompt_ids": ids, "generated_ids": generated,
                      "min_margin": min(margins), "tokens_equal_to_llama_cpp_q4_1": same}
            if index < 2:
                record["prefill_logits_float32_le_base64"] = prefill
            records.append(record)
            print(f"transformers: {same}/{len(llama_cpp)} greedy tokens equal to llama.cpp's for {case['prompt'][:40]!r}")
    with open(out, "w") as f:
        json.dump({"source": "transformers on the dequantized SmolLM2-135M-Instruct.Q4_1.gguf (gguf_to_safetensors.py)",
                   "cases": records}, f, indent=1, ensure_ascii=False)
        f.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("--f32-gguf", metavar="PATH", help="also write the dequantized weights as an F32 GGUF file")
    parser.add_argument("--record-transformers", nargs=2, metavar=("PROMPTS_JSON", "OUT_JSON"),
                        help="run the converted model with transformers on the prompts of PROMPTS_JSON (llama.cpp's "
                             "greedy fixture) and write its greedy tokens and prefill logits to OUT_JSON")
    args = parser.parse_args()
    convert(args.source, args.target)
    if args.f32_gguf:
        write_f32_gguf(GGUFReader(args.source), args.f32_gguf)
    if args.record_transformers:
        record_transformers(args.target, *args.record_transformers)


if __name__ == "__main__":
    sys.exit(main())
