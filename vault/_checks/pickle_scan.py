"""Pickle-based weights: refused by default; admitted only after an allow-list scan.

Unpickling runs whatever callables the stream names, so the only safe scan is
an allow-list: every opcode must be one a tensor checkpoint needs, and every
global it imports must be on the list below. Block-lists of "dangerous" names
keep being bypassed; anything unknown here is a refusal.
"""

from __future__ import annotations

import io
import pickletools

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
        ("numpy.core.multiarray", "scalar"),
        # numpy 2.x moved numpy.core to numpy._core; its pickles name the new module.
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        # What torch.load(weights_only=True) also admits: protocol-2 bytes go through
        # _codecs.encode(str, "latin1"); sets and bytearrays are their constructors; torch.Size
        # and torch.device build plain values. None of them reaches files, processes or code.
        ("_codecs", "encode"),
        ("builtins", "set"),
        ("__builtin__", "set"),
        ("builtins", "frozenset"),
        ("__builtin__", "frozenset"),
        ("builtins", "bytearray"),
        ("__builtin__", "bytearray"),
        ("torch", "Size"),
        ("torch", "device"),
    }
)
# A legacy (pre-zip) torch.save file: five pickles (this magic number, the protocol
# version, system info, the object, the storage keys), then raw storage bytes.
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
TORCH_LEGACY_PICKLES = 5

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


# joblib's wrappers for arrays whose raw bytes follow them inside the pickle stream.
JOBLIB_WRAPPERS = frozenset(
    {("joblib.numpy_pickle", "NumpyArrayWrapper"), ("joblib.numpy_pickle", "NDArrayWrapper")}
)


class PickleError(UnsafeContentError):
    """A pickle the allow-list scan refuses, or one too malformed to scan."""


def scan_pickle_stream(name: str, data: bytes, trailing_ok: bool = False) -> set[tuple[str, str]]:
    """Walk the opcodes without executing anything; return the globals it imports."""
    imports, _end, _first = _scan_one(name, data, 0, trailing_ok)
    return imports


def _scan_one(
    name: str, data: bytes, start: int, trailing_ok: bool
) -> tuple[set[tuple[str, str]], int, object]:
    """Scan the pickle at `start`; (globals, offset after its STOP, its first pushed value if an int)."""

    def bad(reason: str) -> PickleError:
        return PickleError(f"{name}: refused pickle: {reason}")

    imports: set[tuple[str, str]] = set()
    recent: list[str | None] = []  # values pushed, as far as strings matter for STACK_GLOBAL
    memo: dict[int, str | None] = {}
    end = -1
    first: object = None
    stream = io.BytesIO(data)
    stream.seek(start)
    malformed: str | None = None
    try:
        for op, arg, pos in pickletools.genops(stream):
            end = end if pos is None else pos  # BytesIO always tells; None is for streams without tell()
            if first is None and isinstance(arg, int) and op.name.startswith(("LONG", "BININT", "INT")):
                first = arg
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
                memo[int(arg)] = recent[-1] if recent else None  # type: ignore[arg-type]  # an int opcode argument
                continue
            elif op.name == "MEMOIZE":
                memo[len(memo)] = recent[-1] if recent else None
                continue
            elif op.name in ("GET", "BINGET", "LONG_BINGET"):
                recent.append(memo.get(int(arg)))  # type: ignore[arg-type]  # an int opcode argument
                continue
            recent.append(None)
    except UnsafeContentError:
        raise
    except Exception as exc:  # pickletools raises a variety of errors on garbage
        malformed = f"{type(exc).__name__}: {exc}"
    off_list = sorted(
        (ma for ma in imports if ma not in ALLOWED_GLOBALS), key=lambda ma: (not _dangerous(*ma), ma)
    )
    if off_list and _dangerous(*off_list[0]):
        # The refusal names what would do harm (os.system), not the alphabetically first stranger;
        # pickle.load runs what it meets before a malformed tail, so that tail changes nothing.
        raise bad(f"imports {'.'.join(off_list[0])}, which is not on the allow-list")
    if malformed is not None and imports & JOBLIB_WRAPPERS:
        # joblib writes each array's bytes into the pickle stream right after its wrapper object:
        # not a pickle any scanner (or pickle.load without joblib) can walk past.
        raise bad(
            "a joblib file with array bytes embedded in its pickle stream (joblib.numpy_pickle); "
            "vault cannot scan past them"
        )
    if off_list:
        raise bad(f"imports {'.'.join(off_list[0])}, which is not on the allow-list")
    if malformed is not None:
        raise bad(f"not a well-formed pickle ({malformed})")
    if end < 0:
        raise bad("empty")
    if not trailing_ok and end + 1 != len(data):
        # Something after STOP is a smuggled second payload (legacy torch files are handled apart).
        raise bad("data after the end of the pickle")
    return imports, end + 1, first


# Modules whose globals run commands, code, or reach files and the network when a pickle calls them.
_DANGEROUS_MODULES = frozenset({
    "os", "posix", "nt", "subprocess", "builtins", "__builtin__", "runpy", "importlib", "sys", "socket",
    "shutil", "ctypes", "pty", "code", "codeop", "marshal", "pickle", "_pickle", "webbrowser", "operator",
    "functools", "types", "io", "_io", "pathlib", "urllib", "http", "requests", "asyncio", "multiprocessing",
    "threading", "signal", "tempfile", "commands", "platform", "pdb", "timeit", "cProfile", "profile",
})  # fmt: skip


def _dangerous(module: str, attr: str) -> bool:
    return module.split(".")[0] in _DANGEROUS_MODULES or attr in ("eval", "exec", "__import__", "getattr")


def is_torch_legacy(data: bytes) -> bool:
    """Does the stream start with the pickled magic number of a pre-zip torch.save file?"""
    try:
        _imports, _end, first = _scan_one("", data[:64], 0, trailing_ok=True)
    except UnsafeContentError:
        return False
    return first == TORCH_LEGACY_MAGIC


def scan_torch_legacy(name: str, data: bytes) -> None:
    """Scan the five pickles of a legacy torch file; what follows them is raw storage bytes."""
    pos = 0
    for i in range(TORCH_LEGACY_PICKLES):
        if pos >= len(data):
            raise PickleError(f"{name}: refused pickle: legacy torch file ends after {i} of 5 pickles")
        _imports, pos, _first = _scan_one(f"{name} (pickle {i + 1} of 5)", data, pos, trailing_ok=True)
