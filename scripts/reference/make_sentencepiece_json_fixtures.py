#!/usr/bin/env python3
"""SentencePiece-style tokenizer.json files (BPE with byte_fallback, as transformers' converters
write for Gemma, Llama 2 and Mistral v0.x) and the tokenizers library's ids and decoded text for
them (Tests/Fixtures/sentencepiece-json/<style>/). The vocabulary is trained here on a small
corpus with a limited alphabet, so rarer characters (and every emoji or CJK character) go through
byte fallback; the merges are the trainer's.

  gemma            normalizer Replace(" " -> "▁"), pre-tokenizer Split(" ", merged_with_previous)
                   (GemmaConverter: no prefix space)
  llama-legacy     normalizer Sequence[Prepend("▁"), Replace(" " -> "▁")] (LlamaConverter, legacy)
  metaspace-first  pre-tokenizer Metaspace(prepend_scheme "first", split false) (LlamaConverter,
                   legacy false)
  metaspace-always pre-tokenizer Metaspace(prepend_scheme "always", split false)
  bytelevel-nfc    not SentencePiece: byte-level BPE with Qwen2's split regex after an NFC
                   normalizer, as Qwen2.5's tokenizer.json (its own vocabulary, trained here)

The trainer breaks ties between equally frequent pairs in no fixed order, so a new run can give
other merges (and cases); each run's files and cases belong together.

Usage: scripts/reference/make_sentencepiece_json_fixtures.sh (a virtualenv with tokenizers).
"""
import json
import os

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "Tests", "Fixtures", "sentencepiece-json")
META = "\u2581"
SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>"]
CONTROL = ["<start_of_turn>", "<end_of_turn>"]

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello world! Hello there, how are you today?",
    "Distributed inference runs a transformer's blocks on many machines.",
    "Each node serves a contiguous range of blocks, called a shard.",
    "The capital of France is Paris. The capital of Italy is Rome.",
    "Once upon a time there was a little model that wanted to talk.",
    "Numbers like 12345 and 2026 appear in text, as do dates: 2026-12-02.",
    "  Indented lines, tabs\tand new\nlines are whitespace too.",
    "user: What is the answer?\nmodel: The answer is forty-two.",
] * 20


def strings():
    with open(os.path.join(HERE, "..", "..", "Tests", "Fixtures", "smollm2", "tokenize.json")) as f:
        texts = [c["text"] for c in json.load(f)["cases"]]
    return texts + [
        "", " ", "  two leading spaces", "trailing spaces   ", "a  b   c", "\ttab\tseparated\t", "line\n\nbreaks\n",
        "zebra quiz jazz", "naïve café résumé", "日本語のテキスト", "emoji 🙂🚀 and ZWJ 👩‍💻", "\u00a0non-breaking\u00a0space",
        "<start_of_turn>user\nHello there<end_of_turn>\n<start_of_turn>model\n",
        "text right before<end_of_turn>and after", "<bos>a bos in the text", "<unk> typed literally",
        "The capital of France is", "Hello world! Hello there, how are you today?",
        "decomposed: Cafe\u0301 e\u0301te\u0301 A\u030angstro\u0308m", "composed: Café été Ångström",
        "\u1100\u1161\u11a8 and \uac01", "o\u0308\u0301 stacked marks",
    ]


def train():
    base = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>", fuse_unk=True))
    base.normalizer = normalizers.Replace(" ", META)
    trainer = trainers.BpeTrainer(vocab_size=260, special_tokens=SPECIALS, limit_alphabet=40, show_progress=False)
    base.train_from_iterator(CORPUS, trainer)
    trained = json.loads(base.to_str())["model"]
    by_id = sorted(trained["vocab"].items(), key=lambda kv: kv[1])
    vocab = {t: i for i, t in enumerate(SPECIALS)}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for text, _ in by_id:
        if text not in vocab:
            vocab[text] = len(vocab)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in trained["merges"]]
    return vocab, merges


def build(style, vocab, merges):
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, byte_fallback=True, unk_token="<unk>", fuse_unk=True))
    strip = [decoders.Strip(content=" ", left=1, right=0)]
    spm_decoders = [decoders.Replace(META, " "), decoders.ByteFallback(), decoders.Fuse()]
    if style == "gemma":
        tok.normalizer = normalizers.Replace(" ", META)
        tok.pre_tokenizer = pre_tokenizers.Split(" ", "merged_with_previous")
        tok.decoder = decoders.Sequence(spm_decoders)
    elif style == "llama-legacy":
        tok.normalizer = normalizers.Sequence([normalizers.Prepend(META), normalizers.Replace(" ", META)])
        tok.decoder = decoders.Sequence(spm_decoders + strip)
    elif style in ("metaspace-first", "metaspace-always"):
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme=style.split("-")[1], split=False)
        tok.decoder = decoders.Sequence(spm_decoders + strip)
    else:
        raise SystemExit("unknown style " + style)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS + CONTROL])
    return tok


QWEN2_SPLIT = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
               "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")


def build_bytelevel_nfc():
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS + ["Café été Ångström naïve"] * 5, trainer)
    return tok


def main():
    vocab, merges = train()
    for style in ["gemma", "llama-legacy", "metaspace-first", "metaspace-always", "bytelevel-nfc"]:
        tok = build_bytelevel_nfc() if style == "bytelevel-nfc" else build(style, vocab, merges)
        folder = os.path.join(OUT, style)
        os.makedirs(folder, exist_ok=True)
        tok.save(os.path.join(folder, "tokenizer.json"))
        with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
            if style == "bytelevel-nfc":
                json.dump({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}, f, indent=1)
            else:
                json.dump({"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>",
                           "add_bos_token": style != "gemma"}, f, indent=1)
        cases = []
        for text in strings():
            ids = tok.encode(text, add_special_tokens=False).ids
            cases.append({"text": text, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)})
        fallback = 0 if style == "bytelevel-nfc" else sum(1 for c in cases for i in c["ids"] if 4 <= i < 260)
        with open(os.path.join(folder, "cases.json"), "w") as f:
            json.dump({"about": "tokenizers %s: encode(text, add_special_tokens=False).ids and decode(ids, "
                                "skip_special_tokens=False), style %s; %d byte-fallback tokens in all"
                                % (tokenizers.__version__, style, fallback),
                       "cases": cases}, f, indent=1, ensure_ascii=False)
        print("%s: %d tokens, %d merges, %d cases, %d byte-fallback tokens"
              % (style, tok.get_vocab_size(), len(json.loads(tok.to_str())["model"]["merges"]), len(cases), fallback))


if __name__ == "__main__":
    main()
