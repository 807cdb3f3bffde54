#!/usr/bin/env python3
"""Regenerates Tests/Fixtures/gemma3/*.json from llama.cpp on the real Gemma file.

Usage: scripts/reference/build_llama_cpp.sh [DIR]   (once; default DIR /opt/llama-ref)
       python3 scripts/reference/make_gemma_fixtures.py [DIR]

Needs models/gemma-3-270m-q4_k_m.gguf (scripts/setup.sh fetches it). Records with the same
llama_reference tool as make_llama_fixtures.py:
  tokenize.json  ids of the 27 strings of the SmolLM2 tokenizer fixture (llama_tokenize with
                 add_special=false, parse_special on and off)
  greedy.json    32-token greedy continuations of the prompts below, BOS added as the file asks
                 (add_special=true), and the float32 logits of each prompt's last position
                 (logits.bin beside it is not kept: the logits go into greedy.json, base64)
"""
import base64, json, os, struct, sys, tempfile

sys.path.insert(0, os.path.dirname(__file__))
import make_llama_fixtures as reference  # noqa: E402  (STRINGS, build_tool, run, version)

ROOT = reference.ROOT
MODEL = os.path.join(ROOT, "models", "gemma-3-270m-q4_k_m.gguf")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "gemma3")

TURN = "<start_of_turn>user\n{}<end_of_turn>\n<start_of_turn>model\n"
PROMPTS = [
    ("plain", "The capital of France is"),
    ("plain", "Once upon a time, in a small village,"),
    ("plain", "def fibonacci(n):"),
    ("chat", TURN.format("What is the capital of France?")),
    ("chat", TURN.format("Write a haiku about the sea.")),
    ("chat", TURN.format("Explain gravity to a child.")),
]
N_NEW = 32
LOGIT_PROMPTS = 2  # first-step logits kept for this many prompts (1 MB each as float32)


def main():
    if not os.path.exists(MODEL):
        sys.exit(f"{MODEL} is missing: run scripts/setup.sh")
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        exe = reference.build_tool(tmp)
        about = {"reference": "llama.cpp " + reference.version() + " (vendored in llama-cpp-python 0.3.36)",
                 "model": os.path.basename(MODEL), "generator": "scripts/reference/make_gemma_fixtures.py"}
        cases = []
        for s in reference.STRINGS:
            ids = [int(t) for t in reference.run(exe, ["tokenize", MODEL, "1"], s).split()]
            raw = [int(t) for t in reference.run(exe, ["tokenize", MODEL, "0"], s).split()]
            cases.append({"text": s, "ids": ids, "ids_parse_special_off": raw})
        with open(os.path.join(OUT, "tokenize.json"), "w") as f:
            json.dump({"about": {**about, "settings": "llama_tokenize(add_special=false, parse_special=true|false)"},
                       "cases": cases}, f, ensure_ascii=False, indent=1)

        os.environ["ADD_SPECIAL"] = "1"
        greedy = []
        for index, (kind, prompt) in enumerate(PROMPTS):
            path = os.path.join(tmp, "logits.bin")
            out = reference.run(exe, ["greedy", MODEL, str(N_NEW), path, "0"], prompt)
            lines = dict(line.split(":", 1) for line in out.strip().split("\n"))
            case = {"kind": kind, "prompt": prompt, "prompt_ids": [int(t) for t in lines["prompt"].split()],
                    "generated_ids": [int(t) for t in lines["generated"].split()],
                    "stopped_at_eog": lines["eog"].strip() == "1"}
            if index < LOGIT_PROMPTS:
                with open(path, "rb") as f:
                    case["first_step_logits_float32_le_base64"] = base64.b64encode(f.read()).decode()
            greedy.append(case)
        settings = {"n_ctx": 512, "n_batch": 512, "n_threads": 2, "flash_attn": "disabled", "kv_cache": "f16",
                    "sampling": "argmax over raw logits, lowest id on ties, stop at end-of-generation tokens",
                    "n_new": N_NEW, "bos": "added (add_bos_token true; llama_tokenize add_special=true)",
                    "parse_special": True}
        with open(os.path.join(OUT, "greedy.json"), "w") as f:
            json.dump({"about": {**about, "settings": settings}, "cases": greedy}, f, ensure_ascii=False)
    print("fixtures written to", OUT)


if __name__ == "__main__":
    main()
