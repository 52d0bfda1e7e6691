"""What a GGUF's metadata says, checked against what it describes.

llama.cpp indexes its vocabulary with the token ids the metadata names, reads
token scores and types as the arrays it expects, sizes every layer from the
hyperparameters, and its Python bindings render `tokenizer.chat_template`
with Jinja (outside a sandbox, before CVE-2024-34359). A header can be
well-formed and still lie in any of these; each lie found here is a refusal
naming the key:

- chat templates (`tokenizer.chat_template`, `tokenizer.chat_template.*`)
  are strings that reach nothing a sandbox must not give (templates.py);
- `tokenizer.ggml.tokens` is an array of strings, `scores` float32 and
  `token_type` int32 arrays of the same length;
- every `tokenizer.ggml.*_token_id` is a uint32 below the vocabulary's size;
- `{arch}.block_count` is exactly the `blk.N` blocks the tensors hold,
  `embedding_length` and the vocabulary are the token embedding's shape, the
  head counts are positive and divide what they split, `context_length` is
  positive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vault._checks.formats import FormatError
from vault._checks.templates import template_problem

TYPE_UINT32, TYPE_INT32, TYPE_FLOAT32, TYPE_STRING, TYPE_ARRAY = 4, 5, 6, 8, 9
_INTEGER_TYPES = frozenset({0, 1, 2, 3, 4, 5, 10, 11})
_BLOCK = re.compile(r"blk\.([0-9]+)\..+", re.ASCII)
TOKEN_EMBEDDING = "token_embd.weight"


@dataclass(frozen=True)
class Value:
    """One metadata value: its GGUF type, and the value (an array is its element type and count)."""

    vtype: int
    value: object


class GGUFMetadataError(FormatError):
    """GGUF metadata that contradicts what it describes."""


def _fail(name: str, key: str, expected: str, found: object) -> GGUFMetadataError:
    return GGUFMetadataError(f"{name}: GGUF {key}: expected {expected}, found {found}")


def _array(meta: dict[str, Value], key: str) -> tuple[int, int] | None:
    """(element type, count) of an array value, or None when the key is absent."""
    v = meta.get(key)
    if v is None:
        return None
    if v.vtype != TYPE_ARRAY or not isinstance(v.value, tuple):
        return (-1, -1)
    etype, count = v.value
    return int(etype), int(count)


def _integer(name: str, meta: dict[str, Value], key: str) -> int | None:
    v = meta.get(key)
    if v is None:
        return None
    if v.vtype not in _INTEGER_TYPES or not isinstance(v.value, int):
        raise _fail(name, key, "an integer", f"value type {v.vtype}")
    return v.value


def _check_templates(name: str, meta: dict[str, Value]) -> None:
    for key, v in sorted(meta.items()):
        if key == "tokenizer.chat_template" or key.startswith("tokenizer.chat_template."):
            if v.vtype != TYPE_STRING or not isinstance(v.value, str):
                raise _fail(name, key, "a string template", f"value type {v.vtype}")
            problem = template_problem(v.value)
            if problem is not None:
                raise GGUFMetadataError(f"{name}: GGUF {key}: chat template reaches {problem}; refused")


def _check_vocabulary(name: str, meta: dict[str, Value]) -> int | None:
    """The vocabulary's size (None without one), once its arrays and token ids agree with it."""
    tokens = _array(meta, "tokenizer.ggml.tokens")
    if tokens is not None and tokens[0] != TYPE_STRING:
        raise _fail(name, "tokenizer.ggml.tokens", "an array of strings", f"element type {tokens[0]}")
    n_vocab = tokens[1] if tokens is not None else None
    for key, etype, label in (
        ("tokenizer.ggml.scores", TYPE_FLOAT32, "float32"),
        ("tokenizer.ggml.token_type", TYPE_INT32, "int32"),
    ):
        found = _array(meta, key)
        if found is None:
            continue
        if found[0] != etype:
            raise _fail(name, key, f"an array of {label}", f"element type {found[0]}")
        if found[1] != n_vocab:
            raise _fail(name, key, f"one entry per token ({n_vocab})", f"{found[1]} entries")
    for key, v in sorted(meta.items()):
        if key.startswith("tokenizer.ggml.") and key.endswith("_token_id"):
            if v.vtype != TYPE_UINT32 or not isinstance(v.value, int):
                raise _fail(name, key, "a uint32 token id", f"value type {v.vtype}")
            if n_vocab is None or v.value >= n_vocab:
                raise _fail(name, key, f"a token id below the vocabulary's size ({n_vocab})", v.value)
    return n_vocab


def _check_hyperparameters(
    name: str, meta: dict[str, Value], shapes: dict[str, list[int]], n_vocab: int | None
) -> None:
    arch_value = meta.get("general.architecture")
    arch = arch_value.value if arch_value is not None and isinstance(arch_value.value, str) else None
    blocks = {int(m.group(1)) for t in shapes if (m := _BLOCK.fullmatch(t)) is not None}
    embedding = shapes.get(TOKEN_EMBEDDING)
    if embedding is not None and n_vocab is not None and (len(embedding) < 2 or embedding[1] != n_vocab):
        raise _fail(name, TOKEN_EMBEDDING, f"shape [embedding_length, {n_vocab}] (the vocabulary)", embedding)
    if arch is None:
        return
    block_count = _integer(name, meta, f"{arch}.block_count")
    if block_count is not None and blocks and blocks != set(range(block_count)):
        found = f"tensors for blocks 0..{max(blocks)} ({len(blocks)} of them)"
        raise _fail(name, f"{arch}.block_count", f"{block_count}, the blk.N blocks present", found)
    width = _integer(name, meta, f"{arch}.embedding_length")
    if width is not None and embedding is not None and embedding[0] != width:
        raise _fail(
            name, f"{arch}.embedding_length", f"{TOKEN_EMBEDDING}'s first dimension {embedding[0]}", width
        )
    heads = _scalar_or_none(name, meta, f"{arch}.attention.head_count")
    kv_heads = _scalar_or_none(name, meta, f"{arch}.attention.head_count_kv")
    if heads is not None:
        if heads <= 0:
            raise _fail(name, f"{arch}.attention.head_count", "a positive count", heads)
        explicit = f"{arch}.attention.key_length" in meta
        if width is not None and not explicit and width % heads:
            raise _fail(name, f"{arch}.attention.head_count", f"a divisor of embedding_length {width}", heads)
        if kv_heads is not None and (kv_heads <= 0 or heads % kv_heads):
            raise _fail(name, f"{arch}.attention.head_count_kv", f"a divisor of head_count {heads}", kv_heads)
    context = _integer(name, meta, f"{arch}.context_length")
    if context is not None and context <= 0:
        raise _fail(name, f"{arch}.context_length", "a positive length", context)


def _scalar_or_none(name: str, meta: dict[str, Value], key: str) -> int | None:
    """A scalar count; per-layer arrays (some architectures vary heads by layer) are not judged here."""
    v = meta.get(key)
    if v is None or v.vtype == TYPE_ARRAY:
        return None
    return _integer(name, meta, key)


def check_metadata(name: str, meta: dict[str, Value], shapes: dict[str, list[int]]) -> None:
    _check_templates(name, meta)
    n_vocab = _check_vocabulary(name, meta)
    _check_hyperparameters(name, meta, shapes, n_vocab)
