#!/usr/bin/env python3
"""Q4_K_M files of the tiny Qwen2 and Qwen3 GGUFs (Tests/Fixtures/gguf-tiny/*-tiny-f32.gguf,
made by make_qwen_fixtures.py from transformers models), quantized by llama.cpp's llama-quantize
with its defaults, and llama.cpp's outputs on them (qwen-kquant-reference.json, the format of
reference.json, the same prompts).

At an embedding of 64 no matrix row holds a whole 256-weight super-block, so llama-quantize gives
every matrix of these "Q4_K_M" files its fallback type (Q5_0, Q8_0 for the output head and
Qwen2's V), as it does for any model that narrow: what a user who asks for Q4_K_M gets.

Usage: python3 scripts/reference/make_qwen_kquant_fixtures.py [LLAMA_DIR]   (default /opt/llama-ref)
"""
import collections, json, os, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_llama_fixtures as ll  # noqa: E402  (llama_reference build and run; parses LLAMA_DIR)

OUT = os.path.join(ll.ROOT, "Tests", "Fixtures", "gguf-tiny")


def tensor_types(log):
    """llama-quantize's per-tensor lines: how many tensors it converted to each type."""
    counts = collections.Counter()
    for line in log.splitlines():
        if "converting to" in line:
            counts[line.split("converting to")[1].split("..")[0].strip()] += 1
    return dict(counts)


def main():
    with open(os.path.join(OUT, "reference.json")) as f:
        source = json.load(f)
    quantize = os.path.join(ll.LIB, "llama-quantize")
    fixtures = []
    with tempfile.TemporaryDirectory() as tmp:
        exe = ll.build_tool(tmp)
        for fixture in source["fixtures"]:
            if fixture["type"] != "f32":
                continue
            name = fixture["file"].replace("-f32.gguf", "-q4_k_m.gguf")
            path = os.path.join(OUT, name)
            done = subprocess.run([quantize, os.path.join(OUT, fixture["file"]), path, "Q4_K_M", "2"],
                                  capture_output=True, text=True, check=True)
            prompts = [c["prompt"] for c in fixture["cases"]]
            cases = ll.last_logits_and_greedy(exe, path, prompts, len(fixture["cases"][0]["generated_ids"]), tmp)
            fixtures.append({"file": name, "architecture": fixture["architecture"], "type": "q4_k_m",
                             "weights_seed": fixture["weights_seed"], "quantized_types": tensor_types(done.stdout + done.stderr),
                             "cases": cases})
            print(name, fixtures[-1]["quantized_types"])
    about = dict(source["about"], generator="scripts/reference/make_qwen_kquant_fixtures.py (llama-quantize Q4_K_M of the f32 files)")
    with open(os.path.join(OUT, "qwen-kquant-reference.json"), "w") as f:
        json.dump({"about": about, "fixtures": fixtures}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
