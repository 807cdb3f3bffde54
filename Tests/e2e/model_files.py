"""What the suite reads from a model file itself, independently of the node's code: the block
count (to split the model between nodes A and B) and the model id a node announces (what the
tests expect in proofs, /health and the oracle)."""
import functools
import json
import re
import struct
from pathlib import Path


class ModelFileError(Exception):
    """A model file the suite cannot read; the message names it."""


def block_count(path):
    """The model's transformer block count: config.json of a safetensors directory, or the GGUF
    key `<architecture>.block_count`."""
    if _is_safetensors(path):
        config = _config_json(path)
        for key in ("num_hidden_layers", "n_layer", "num_layers"):
            if key in config:
                return int(config[key])
        raise ModelFileError(f"{path}: config.json names no layer count")
    metadata = gguf_metadata(path)
    count = next((v for k, v in metadata.items() if k.endswith(".block_count")), None)
    if count is None:
        raise ModelFileError(f"{path} has no block_count")
    return int(count)


def model_id(path):
    """The id a node announces for the model (PluginAPI ModelIdentity, derived here from the
    file independently): a Hugging Face repository URL's owner/name, else organization/ + the
    file name without its quantization suffix (GGUF); config.json's `_name_or_path` when it is
    an Org/Name id, else the directory's name (safetensors)."""
    if _is_safetensors(path):
        name = _config_json(path).get("_name_or_path") or ""
        if re.fullmatch(r"[^/\s.][^/\s]*/[^/\s]+", name):
            return name
        return Path(path if Path(path).is_dir() else Path(path).parent).name
    metadata = gguf_metadata(path)
    url = re.match(r"https?://(?:www\.)?(?:huggingface\.co|hf\.co)/([^/\s]+)/([^/\s]+)",
                   str(metadata.get("general.repo_url", "")).strip())
    if url:
        return f"{url.group(1)}/{url.group(2)}"
    stem = re.sub(r"\.gguf$", "", Path(path).name, flags=re.I)
    stem = re.sub(r"(?<=.)[.\-_](?:(?i:I?Q[0-9](?:_[0-9A-Z]+)*)|B?F(?:16|32)|f16|f32|bf16)$", "", stem)
    organization = str(metadata.get("general.organization", "")).strip()
    return f"{organization}/{stem}" if organization and "/" not in organization and " " not in organization else stem


def _is_safetensors(path):
    return Path(path).is_dir() or Path(path).suffix == ".safetensors"


def _config_json(path):
    path = Path(path)
    return json.loads(((path if path.is_dir() else path.parent) / "config.json").read_text())


@functools.lru_cache(maxsize=8)
def gguf_metadata(path):
    """A GGUF file's scalar and string metadata (arrays, such as the vocabulary, are skipped)."""
    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
    metadata = {}
    with open(path, "rb") as f:
        def read(fmt):
            return struct.unpack("<" + fmt, f.read(struct.calcsize("<" + fmt)))[0]

        def read_string():
            return f.read(read("Q")).decode("utf-8", "replace")

        def value(kind):
            if kind in scalar:
                return read(scalar[kind])
            if kind == 8:
                return read_string()
            if kind == 9:
                item, count = read("I"), read("Q")
                if item in scalar:
                    f.seek(count * struct.calcsize(scalar[item]), 1)
                elif item == 8:
                    for _ in range(count):
                        f.seek(read("Q"), 1)
                else:
                    for _ in range(count):
                        value(item)
                return None
            raise ModelFileError(f"{path}: unknown GGUF value type {kind}")

        if f.read(4) != b"GGUF":
            raise ModelFileError(f"{path} is neither a GGUF file nor a safetensors model")
        read("I"), read("Q")  # version, tensor count
        for _ in range(read("Q")):
            key = read_string()
            found = value(read("I"))
            if found is not None:
                metadata[key] = found
    return metadata
