"""HDF5 files (Keras `.h5`): their string attributes, read by h5py in a child process.

HDF5 is too large a format to parse by hand, and libhdf5 has had memory-safety
bugs on crafted files, so the file is opened by h5py in a separate process
with memory and CPU limits. The child only reports the string attributes
(where Keras keeps `model_config` and `training_config`); the Keras policy is
applied here, in the parent. A child that crashes, overruns its limits or
answers garbage is a refusal.

    python -m vault._checks.hdf5_probe FILE                     (prints one JSON object)
    python -m vault._checks.hdf5_probe OFFSET SIZE PART...      (a region of a bundle's parts)

The second form lets `vault verify` check an HDF5 file inside a bundle
without copying it anywhere: verify writes nothing, not even scratch.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

from vault._checks.formats import FormatError
from vault._checks.keras_config import check_keras_config

SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAX_OBJECTS = 100_000
MAX_STRING_BYTES = 64 << 20
CHILD_MEMORY = 2 << 30
CHILD_CPU_SECONDS = 60


class HDF5Error(FormatError):
    """An HDF5 file the probe could not read, or whose Keras config runs code."""


def superblock_offsets(size: int) -> list[int]:
    """Where an HDF5 superblock may sit: 0, or after a user block of 512 x 2^n bytes."""
    offsets, at = [0], 512
    while at + len(SIGNATURE) <= size:
        offsets.append(at)
        at *= 2
    return offsets


def _limit_child() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (CHILD_CPU_SECONDS, CHILD_CPU_SECONDS))


def hdf5_strings(name: str, source: Path | tuple[int, int, list[Path]]) -> list[tuple[str, str]]:
    """(where, text) for every string attribute in the file (or bundle region), via the sandboxed child."""
    args = (
        [str(source)] if isinstance(source, Path) else [str(source[0]), str(source[1]), *map(str, source[2])]
    )
    try:
        res = subprocess.run(
            [sys.executable, "-m", "vault._checks.hdf5_probe", *args],
            capture_output=True, timeout=CHILD_CPU_SECONDS * 2, preexec_fn=_limit_child, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise HDF5Error(f"{name}: HDF5 reader timed out") from None
    try:
        answer = json.loads(res.stdout)
        if res.returncode != 0 or not answer.get("ok"):
            raise ValueError(answer.get("error", "failed"))
        return [(str(w), str(t)) for w, t in answer["strings"]]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        detail = str(exc) or res.stderr.decode(errors="replace").strip().splitlines()[-1:]
        raise HDF5Error(f"{name}: HDF5 file the reader refused ({detail})") from None


def check_hdf5(name: str, source: Path | tuple[int, int, list[Path]]) -> str:
    """Refuse Keras configs that run code; returns what the file is, for the verdict's detail."""
    keras = False
    for where, text in hdf5_strings(name, source):
        stripped = text.lstrip()
        if not stripped.startswith(("{", "[")):
            continue
        try:
            doc = json.loads(stripped)
        except ValueError:
            continue
        if isinstance(doc, dict | list):
            keras = keras or where.endswith(("model_config", "training_config"))
            check_keras_config(f"{name}:{where}", doc)
    return "Keras HDF5 model" if keras else "HDF5 (weights only)"


def _probe(args: list[str]) -> dict[str, object]:
    import io

    import h5py
    import numpy as np

    if len(args) == 1:
        target: object = args[0]
    else:
        from vault._bundle.parts import ChainedReader
        from vault._bundle.reader import RegionFile

        region = RegionFile(ChainedReader([Path(p) for p in args[2:]]), int(args[0]), int(args[1]))
        target = io.BufferedReader(region, buffer_size=1 << 20)

    strings: list[tuple[str, str]] = []
    total = 0
    objects = 0

    def text_of(value: object) -> str | None:
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        if isinstance(value, str):
            return value
        if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "SUO":
            return text_of(value.item())
        return None

    def collect(where: str, obj: object) -> None:
        nonlocal total, objects
        objects += 1
        if objects > MAX_OBJECTS:
            raise ValueError(f"more than {MAX_OBJECTS} objects")
        for key, value in obj.attrs.items():  # type: ignore[attr-defined]  # h5py is untyped
            text = text_of(value)
            if text is not None:
                total += len(text)
                if total > MAX_STRING_BYTES:
                    raise ValueError("string attributes too large")
                strings.append((f"{where}@{key}", text))

    with h5py.File(target, "r") as f:
        collect("/", f)
        f.visititems(lambda n, o: collect("/" + n, o))
    return {"ok": True, "strings": strings}


if __name__ == "__main__":
    try:
        result = _probe(sys.argv[1:])
    except Exception as exc:  # the parent turns any failure into a refusal
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(result))
