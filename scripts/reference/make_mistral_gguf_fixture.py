#!/usr/bin/env python3
"""The tiny Mistral of Tests/Fixtures/safetensors/mistral converted to GGUF by the vendored
llama.cpp's convert_hf_to_gguf.py (MistralForCausalLM becomes general.architecture "llama", as
published Mistral GGUFs are: Q/K permuted for llama.cpp's rope, attention.key_length 32 on an
embedding of 64 with 4 heads, 2 KV heads, rope.freq_base 1e6), its pre-tokenizer named "tekken"
(Mistral Nemo's and Mistral Small 3's; the converter's hash table knows released models only),
with llama.cpp's outputs (Tests/Fixtures/gguf-tiny/mistral-reference.json):

- token ids of make_llama_fixtures.py's strings and a few that exercise tekken's case-split
  letter runs and `/` after punctuation, with special-token parsing on and off (llama_tokenize,
  as llama-tokenize calls it);
- for F32 and Q8_0 files, the last prompt position's logits and 20 greedy tokens of three prompts
  (BOS added, as the file asks).

Usage: scripts/reference/make_mistral_gguf_fixture.sh [LLAMA_DIR]   (default /opt/llama-ref)
"""
import json, os, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_safetensors_fixtures as st  # noqa: E402  (prompts)
import make_llama_fixtures as ll  # noqa: E402  (llama_reference build and run, the strings)

OUT = os.path.join(ll.ROOT, "Tests", "Fixtures", "gguf-tiny")
HF_DIR = os.path.join(ll.ROOT, "Tests", "Fixtures", "safetensors", "mistral")
GREEDY = 20
TEKKEN_STRINGS = [
    "HelloWorld helloWORLD HTTPServer iPhone McDonald's",
    "Éric ÉCOLE éÉ ÀbC straßeSTRASSE ΑθήναΑΘΗΝΑ",
    "path/to/file.txt a.\n//b c!/d e?\n/f",
    "don't DON'T we'll I'm",
    "x1y22z333 2026-12-02",
    "<s>[INST] Hi [/INST]</s>",
]


def main():
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        exe = ll.build_tool(tmp)
        fixtures, tokenize = [], []
        for outtype in ("f32", "q8_0"):
            name = f"mistral-tiny-{outtype}.gguf"
            path = os.path.join(OUT, name)
            ll.convert_hf(HF_DIR, path, outtype, pre="tekken")
            if outtype == "f32":
                for s in ll.STRINGS + TEKKEN_STRINGS:
                    ids = [int(t) for t in ll.run(exe, ["tokenize", path, "1"], s).split()]
                    raw = [int(t) for t in ll.run(exe, ["tokenize", path, "0"], s).split()]
                    tokenize.append({"text": s, "ids": ids, "ids_parse_special_off": raw})
            os.environ["ADD_SPECIAL"] = "1"
            cases = ll.last_logits_and_greedy(exe, path, st.PROMPTS, GREEDY, tmp)
            fixtures.append({"file": name, "architecture": "llama", "type": outtype, "cases": cases})
        about = {"reference": "llama.cpp " + ll.version() + " (vendored in llama-cpp-python 0.3.36)",
                 "generator": "scripts/reference/make_mistral_gguf_fixture.py",
                 "settings": "n_ctx 512, 2 threads, F16 KV cache, no flash attention; greedy argmax, BOS added; "
                             "tokenize: llama_tokenize(add_special=false, parse_special=true|false)"}
        with open(os.path.join(OUT, "mistral-reference.json"), "w") as f:
            json.dump({"about": about, "fixtures": fixtures, "tokenize": tokenize}, f, indent=1, ensure_ascii=False)
            f.write("\n")
    print("fixtures written to", OUT)


if __name__ == "__main__":
    main()
