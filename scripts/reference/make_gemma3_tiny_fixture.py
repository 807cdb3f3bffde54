#!/usr/bin/env python3
"""A tiny random Gemma 3 (text) model with a SentencePiece tokenizer, converted to GGUF by the
vendored llama.cpp's convert_hf_to_gguf.py, with llama.cpp's outputs (Tests/Fixtures/gguf-tiny/).

Gemma 3's block: embeddings scaled by sqrt(d), q/k RMSNorm per head, norms after attention and
feed-forward, GELU-tanh gated feed-forward, sliding-window layers (every 6th global) with their
own RoPE base. 7 layers so that layer 5 is global and the others slide; a window of 4 so the
prompts exceed it.
"""
import json, os, shutil, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_safetensors_fixtures as st  # noqa: E402
import make_llama_fixtures as ll  # noqa: E402

import sentencepiece as spm  # noqa: E402
from transformers import Gemma3ForCausalLM, Gemma3TextConfig  # noqa: E402

OUT = os.path.join(ll.ROOT, "Tests", "Fixtures", "gguf-tiny")
LLAMA = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "/opt/llama-ref")
GREEDY = 20


def tokenizer(directory):
    corpus = os.path.join(directory, "corpus.txt")
    with open(corpus, "w") as f:
        f.write(st.CORPUS)
    prefix = os.path.join(directory, "tokenizer")
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=prefix, vocab_size=600, model_type="bpe", byte_fallback=True,
        pad_id=0, eos_id=1, bos_id=2, unk_id=3, user_defined_symbols=["<start_of_turn>", "<end_of_turn>"],
        add_dummy_prefix=False, split_digits=True, character_coverage=1.0, minloglevel=2)
    return spm.SentencePieceProcessor(model_file=prefix + ".model").get_piece_size(), prefix + ".model"


def main():
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        exe = ll.build_tool(tmp)
        vocab_size, sentencepiece_model = tokenizer(tmp)
        config = Gemma3TextConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=7,
                                  num_attention_heads=4, num_key_value_heads=2, head_dim=32, sliding_window=4,
                                  rope_theta=1000000.0, rope_local_base_freq=10000.0, max_position_embeddings=256,
                                  query_pre_attn_scalar=32, rms_norm_eps=1e-6, tie_word_embeddings=True,
                                  pad_token_id=0, eos_token_id=1, bos_token_id=2)
        model = Gemma3ForCausalLM(config)
        st.randomize(model, 41, std=0.15)
        hf_dir = os.path.join(tmp, "gemma3")
        model.save_pretrained(hf_dir)
        shutil.copyfile(sentencepiece_model, os.path.join(hf_dir, "tokenizer.model"))  # what the converter reads
        fixtures = []
        for outtype in ("f32",):
            name = f"gemma3-tiny-{outtype}.gguf"
            path = os.path.join(OUT, name)
            converted = subprocess.run([sys.executable, os.path.join(LLAMA, "src", "convert_hf_to_gguf.py"), hf_dir,
                                        "--outfile", path, "--outtype", outtype], capture_output=True, text=True)
            if converted.returncode != 0:
                sys.exit("convert_hf_to_gguf.py failed:\n" + converted.stderr[-3000:])
            os.environ["ADD_SPECIAL"] = "1"
            cases = ll.last_logits_and_greedy(exe, path, st.PROMPTS, GREEDY, tmp)
            fixtures.append({"file": name, "architecture": "gemma3", "type": outtype, "weights_seed": 41, "cases": cases})
        with open(os.path.join(OUT, "gemma3-reference.json"), "w") as f:
            json.dump({"generator": "scripts/reference/make_gemma3_tiny_fixture.py", "fixtures": fixtures}, f, indent=1)
            f.write("\n")
    print("fixtures written to", OUT)


if __name__ == "__main__":
    main()
