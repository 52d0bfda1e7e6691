"""Pickle-based weights: refused by default; admitted only after an allow-list scan.

Unpickling runs whatever callables the stream names, so the only safe scan is
an allow-list: every opcode must be one a tensor checkpoint needs, and every
global it imports must be on the list below. Block-lists of "dangerous" names
keep being bypassed; anything unknown here is a refusal.
"""

from __future__ import annotations

import io
import pickletools
import zipfile
from pathlib import Path
from typing import IO

from vault.errors import UnsafeContentError

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")

# What torch.save / numpy checkpoints legitimately import.
ALLOWED_GLOBALS = frozenset(
    {
        ("collections", "OrderedDict"),
        ("torch._utils", "_rebuild_tensor"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_parameter"),
        ("torch", "BFloat16Storage"),
        ("torch", "BoolStorage"),
        ("torch", "ByteStorage"),
        ("torch", "CharStorage"),
        ("torch", "DoubleStorage"),
        ("torch", "FloatStorage"),
        ("torch", "HalfStorage"),
        ("torch", "IntStorage"),
        ("torch", "LongStorage"),
        ("torch", "ShortStorage"),
        ("torch", "float16"),
        ("torch", "float32"),
        ("torch", "bfloat16"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }
)

# Opcodes that build plain data, memoise, or call an (already allow-listed) global.
# INST, OBJ and EXT* are absent: they import or call without a checkable GLOBAL.
ALLOWED_OPCODES = frozenset(
    {
        "PROTO", "FRAME", "STOP", "MARK", "POP", "POP_MARK", "DUP",
        "NONE", "NEWTRUE", "NEWFALSE", "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4",
        "FLOAT", "BINFLOAT", "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "SHORT_BINUNICODE",
        "BINUNICODE", "BINUNICODE8", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8",
        "EMPTY_LIST", "APPEND", "APPENDS", "LIST", "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3",
        "EMPTY_DICT", "DICT", "SETITEM", "SETITEMS", "EMPTY_SET", "ADDITEMS", "FROZENSET",
        "GET", "BINGET", "LONG_BINGET", "PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE",
        "GLOBAL", "STACK_GLOBAL", "REDUCE", "BUILD", "NEWOBJ", "NEWOBJ_EX",
        "PERSID", "BINPERSID",  # torch storages: resolved by the loader's persistent_load
    }
)  # fmt: skip
_STRING_OPS = {
    "STRING",
    "BINSTRING",
    "SHORT_BINSTRING",
    "UNICODE",
    "SHORT_BINUNICODE",
    "BINUNICODE",
    "BINUNICODE8",
}
MAX_PICKLE_BYTES = 256 * 1024 * 1024


def is_pickle_based(path: str) -> bool:
    return path.lower().endswith(PICKLE_SUFFIXES)


def scan_pickle_stream(name: str, data: bytes) -> set[tuple[str, str]]:
    """Walk the opcodes without executing anything; return the globals it imports."""

    def bad(reason: str) -> UnsafeContentError:
        return UnsafeContentError(f"{name}: refused pickle: {reason}")

    imports: set[tuple[str, str]] = set()
    recent: list[str | None] = []  # values pushed, as far as strings matter for STACK_GLOBAL
    memo: dict[int, str | None] = {}
    end = -1
    try:
        for op, arg, pos in pickletools.genops(io.BytesIO(data)):
            end = pos
            if op.name not in ALLOWED_OPCODES:
                raise bad(f"opcode {op.name} is not allowed")
            if op.name in _STRING_OPS:
                recent.append(arg if isinstance(arg, str) else None)
                continue
            if op.name == "GLOBAL":
                module, _, attr = str(arg).partition(" ")
                imports.add((module, attr))
            elif op.name == "STACK_GLOBAL":
                if len(recent) < 2 or recent[-1] is None or recent[-2] is None:
                    raise bad("STACK_GLOBAL with operands that cannot be checked")
                imports.add((recent[-2], recent[-1]))
            elif op.name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[int(arg)] = recent[-1] if recent else None
                continue
            elif op.name == "MEMOIZE":
                memo[len(memo)] = recent[-1] if recent else None
                continue
            elif op.name in ("GET", "BINGET", "LONG_BINGET"):
                recent.append(memo.get(int(arg)))
                continue
            recent.append(None)
    except UnsafeContentError:
        raise
    except Exception as exc:  # pickletools raises a variety of errors on garbage
        raise bad(f"not a well-formed pickle ({type(exc).__name__}: {exc})") from None
    if end + 1 != len(data):
        # A second pickle after STOP is how legacy torch files (and smuggled payloads) look.
        raise bad("data after the end of the pickle (legacy torch format is not supported)")
    for module, attr in sorted(imports):
        if (module, attr) not in ALLOWED_GLOBALS:
            raise bad(f"imports {module}.{attr}, which is not on the allow-list")
    return imports


def scan_pickle_file(name: str, fh: IO[bytes], size: int) -> None:
    """Scan a raw pickle, or every pickle inside a zip-wrapped torch checkpoint."""
    head = fh.read(4)
    fh.seek(0)
    if head == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(fh) as zf:
                pickles = [i for i in zf.infolist() if i.filename.endswith(".pkl")]
                if not pickles:
                    raise UnsafeContentError(f"{name}: zip checkpoint without a data.pkl")
                for info in pickles:
                    if info.file_size > MAX_PICKLE_BYTES:
                        raise UnsafeContentError(f"{name}: {info.filename} is too large to scan")
                    scan_pickle_stream(f"{name}:{info.filename}", zf.read(info))
        except zipfile.BadZipFile as exc:
            raise UnsafeContentError(f"{name}: malformed zip checkpoint ({exc})") from None
        return
    if size > MAX_PICKLE_BYTES:
        raise UnsafeContentError(f"{name}: pickle too large to scan")
    scan_pickle_stream(name, fh.read())


def scan_pickle_path(name: str, path: Path) -> None:
    with open(path, "rb") as fh:
        scan_pickle_file(name, fh, path.stat().st_size)
