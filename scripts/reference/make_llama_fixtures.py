#!/usr/bin/env python3
"""Regenerates Tests/Fixtures/smollm2/*.json from llama.cpp, the independent reference.

Usage: scripts/reference/build_llama_cpp.sh [DIR]   (once; default DIR /opt/llama-ref)
       python3 scripts/reference/make_llama_fixtures.py [DIR]
       python3 scripts/reference/make_llama_fixtures.py [DIR] --model M.gguf --out D --logit-prompts 1 \
           --decode-steps 1 --skip-tokenize      (another file of the same model, as make_kquant_fixtures.sh does)

Compiles llama_reference.c against DIR's libllama, then records for the default model:
tokenize.json (ids of varied strings), greedy.json (32-token greedy continuations) and
logits.json (float32 logits, base64, of prefill and the first decode steps).
"""
import argparse, base64, json, os, subprocess, sys, tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "smollm2")
ARGS = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ARGS.add_argument("llama", nargs="?", default="/opt/llama-ref", help="llama.cpp directory (src/ and build/)")
ARGS.add_argument("--model", default=MODEL, help="GGUF file to record (default: the default model)")
ARGS.add_argument("--out", default=OUT, help="fixture directory")
ARGS.add_argument("--logit-prompts", type=int, default=3, help="prompts whose logits are kept")
ARGS.add_argument("--decode-steps", type=int, default=4, help="decode steps of the first prompt whose logits are kept")
ARGS.add_argument("--skip-tokenize", action="store_true", help="do not write tokenize.json")
OPTIONS = ARGS.parse_args()
MODEL, OUT = os.path.abspath(OPTIONS.model), os.path.abspath(OPTIONS.out)
LLAMA = os.path.abspath(OPTIONS.llama)
SRC = os.path.join(LLAMA, "src")  # the vendored llama.cpp tree
LIB = os.path.join(LLAMA, "build", "bin")

SYSTEM = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"

STRINGS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "Hello, world! How are you?!?",
    "...!!!???,,,;;;",
    "1234567 and 3.14159 and 2,000,000",
    "   leading spaces",
    "trailing spaces   ",
    "tabs\tand\t\ttabs",
    "line one\nline two\n\nline four\r\n",
    "multiple     spaces   between    words",
    "don't I'M we're they've she'll he'd it's",
    "café naïve résumé Ærøskøbing",
    "Straße und Fußgänger",
    "中文文本测试",
    "日本語のテキスト",
    "한국어 텍스트",
    "emoji 😀🎉 family 👨‍👩‍👧‍👦 flag 🇫🇷",
    "def f(x):\n    return x ** 2  # square",
    "if (a && b) { printf(\"%d\\n\", a[i]); }",
    "<|im_start|>user\nHi<|im_end|>\n",
    "<|endoftext|>after the end",
    "MiXeD CaSe WoRdS and ALLCAPS",
    "https://example.com/path?query=1&x=y",
    "email@example.com #hashtag @mention",
    "Ελληνικά και русский текст",
    "a" * 40 + " " + "ab" * 20,
    "",
]

PROMPTS = [
    ("plain", "The capital of France is"),
    ("plain", "Once upon a time, in a small village,"),
    ("plain", "def fibonacci(n):"),
    ("plain", "The three primary colors are"),
    ("chat", SYSTEM + "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"),
    ("chat", SYSTEM + "<|im_start|>user\nWrite a haiku about the sea.<|im_end|>\n<|im_start|>assistant\n"),
    ("chat", SYSTEM + "<|im_start|>user\nExplain gravity to a child.<|im_end|>\n<|im_start|>assistant\n"),
]
N_NEW = 32
LOGIT_PROMPTS = OPTIONS.logit_prompts  # full logits kept for the first prompts
DECODE_STEPS = OPTIONS.decode_steps    # and for this many decode steps of the first prompt


def build_tool(tmp):
    exe = os.path.join(tmp, "llama_reference")
    subprocess.check_call([
        "cc", "-O2", "-o", exe, os.path.join(os.path.dirname(__file__), "llama_reference.c"),
        "-I", os.path.join(SRC, "include"), "-I", os.path.join(SRC, "ggml", "include"),
        "-L", LIB, "-lllama", "-lggml-base", "-Wl,-rpath," + LIB])
    return exe


def run(exe, args, text):
    return subprocess.run([exe, *args], input=text.encode(), capture_output=True, check=True).stdout.decode()


def last_logits_and_greedy(exe, model, prompts, n_new, tmp):
    """For each prompt: its ids, llama.cpp's logits of the last position (base64 float32) and
    n_new greedy tokens (the tiny-GGUF fixtures' case format)."""
    cases = []
    for prompt in prompts:
        logits_path = os.path.join(tmp, "logits.bin")
        out = run(exe, ["greedy", model, str(n_new), logits_path, "0"], prompt)
        lines = dict(line.split(":", 1) for line in out.strip().split("\n"))
        with open(logits_path, "rb") as f:
            logits = base64.b64encode(f.read()).decode()
        cases.append({"prompt": prompt, "prompt_ids": [int(t) for t in lines["prompt"].split()],
                      "generated_ids": [int(t) for t in lines["generated"].split()],
                      "stopped_at_eog": lines["eog"].strip() == "1",
                      "last_logits_float32_le_base64": logits})
    return cases


def convert_hf(hf_dir, out_path, outtype, pre=None):
    """The vendored convert_hf_to_gguf.py on a Hugging Face directory; `pre` names the
    pre-tokenizer when the converter's hash table (released models only) cannot."""
    script = f"""
import sys
sys.path.insert(0, {SRC!r})
import convert_hf_to_gguf as c
import conversion.base
if {pre!r} is not None:
    conversion.base.TextModel.get_vocab_base_pre = lambda self, tokenizer: {pre!r}
sys.argv = ["convert_hf_to_gguf.py", {hf_dir!r}, "--outfile", {out_path!r}, "--outtype", {outtype!r}]
c.main()
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit("convert_hf_to_gguf.py failed:\n" + done.stderr[-3000:])


def version():
    try:
        return subprocess.check_output(["git", "-C", SRC, "rev-parse", "HEAD"], text=True).strip()
    except Exception:
        return "llama.cpp vendored in llama-cpp-python 0.3.36"


def main():
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        exe = build_tool(tmp)
        about = {"reference": "llama.cpp " + version() + " (vendored in llama-cpp-python 0.3.36)",
                 "model": os.path.basename(MODEL), "generator": "scripts/reference/make_llama_fixtures.py"}

        cases = []
        for s in [] if OPTIONS.skip_tokenize else STRINGS:
            ids = [int(t) for t in run(exe, ["tokenize", MODEL, "1"], s).split()]
            raw = [int(t) for t in run(exe, ["tokenize", MODEL, "0"], s).split()]
            cases.append({"text": s, "ids": ids, "ids_parse_special_off": raw})
        if not OPTIONS.skip_tokenize:
            with open(os.path.join(OUT, "tokenize.json"), "w") as f:
                json.dump({"about": {**about, "settings": "llama_tokenize(add_special=false, parse_special=true|false)"},
                           "cases": cases}, f, ensure_ascii=False, indent=1)

        greedy, logits = [], []
        for index, (kind, prompt) in enumerate(PROMPTS):
            path = os.path.join(tmp, "logits.bin")
            steps = DECODE_STEPS if index == 0 else 0
            out = run(exe, ["greedy", MODEL, str(N_NEW), path, str(steps)], prompt)
            lines = dict(line.split(":", 1) for line in out.strip().split("\n"))
            case = {"kind": kind, "prompt": prompt, "prompt_ids": [int(t) for t in lines["prompt"].split()],
                    "generated_ids": [int(t) for t in lines["generated"].split()], "stopped_at_eog": lines["eog"].strip() == "1"}
            greedy.append(case)
            if index < LOGIT_PROMPTS:
                with open(path, "rb") as f:
                    blob = f.read()
                n_vocab = 49152
                rows = [blob[i * n_vocab * 4:(i + 1) * n_vocab * 4] for i in range(len(blob) // (n_vocab * 4))]
                logits.append({"prompt": prompt, "prompt_ids": case["prompt_ids"],
                               "steps": [{"after_ids": case["generated_ids"][:i],
                                          "float32_le_base64": base64.b64encode(r).decode()} for i, r in enumerate(rows)]})
        settings = {"n_ctx": 512, "n_batch": 512, "n_threads": 2, "flash_attn": "disabled", "kv_cache": "f16",
                    "sampling": "argmax over raw logits, lowest id on ties, stop at end-of-generation tokens",
                    "n_new": N_NEW, "bos": "not added (add_bos_token false)", "parse_special": True}
        with open(os.path.join(OUT, "greedy.json"), "w") as f:
            json.dump({"about": {**about, "settings": settings}, "cases": greedy}, f, ensure_ascii=False, indent=1)
        with open(os.path.join(OUT, "logits.json"), "w") as f:
            json.dump({"about": {**about, "settings": settings,
                                 "encoding": "each step: the 49152 float32 logits, little-endian, base64"},
                       "cases": logits}, f, ensure_ascii=False)
    print("fixtures written to", OUT)


if __name__ == "__main__":
    main()
