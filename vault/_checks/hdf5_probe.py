"""HDF5 files (Keras `.h5`, a `.keras` archive's weights): read by h5py in a child process.

HDF5 is too large a format to parse by hand, and libhdf5 has had memory-safety
bugs on crafted files, so the file is opened by h5py in a separate process
with memory and CPU limits. The child reports the string attributes (where
Keras keeps `model_config` and `training_config`) and every way the file
reaches past its own bytes: external links, datasets stored in outside files,
virtual datasets (h5py reads `/etc/passwd` through any of them), and datasets
that declare far more than they store (a 4 TiB array of fill values is
allocated on load). The policy is applied here, in the parent. A child that
crashes, overruns its limits or answers garbage is a refusal.

    python -m vault._checks.hdf5_probe FILE                     (prints one JSON object)
    python -m vault._checks.hdf5_probe OFFSET SIZE PART...      (a region of a bundle's parts)
    python -m vault._checks.hdf5_probe --member NAME ...        (a member of the zip the rest names)

The second form lets `vault verify` check an HDF5 file inside a bundle
without copying it anywhere: verify writes nothing, not even scratch. The
third reads the weights inside a `.keras` archive the same way.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any, BinaryIO, cast

from vault._checks.formats import FormatError
from vault._checks.keras_config import check_keras_config

SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAX_OBJECTS = 100_000
MAX_STRING_BYTES = 64 << 20
# A dataset may declare this much more than it stores (compression, fill values) before it is refused.
MAX_DECLARED_RATIO = 1024
MAX_SPARSE_BYTES = 1 << 20
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


Source = Path | tuple[int, int, list[Path]]


def hdf5_strings(name: str, source: Source, member: str | None = None) -> list[tuple[str, str]]:
    """(where, text) for every string attribute in the file, via the sandboxed child.

    Refuses first what makes a reader leave the file (the child lists it).
    """
    args = (
        [str(source)] if isinstance(source, Path) else [str(source[0]), str(source[1]), *map(str, source[2])]
    )
    if member is not None:
        args = ["--member", member, *args]
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
        outside = [str(p) for p in answer["outside"]]
        strings = [(str(w), str(t)) for w, t in answer["strings"]]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        detail = str(exc) or res.stderr.decode(errors="replace").strip().splitlines()[-1:]
        raise HDF5Error(f"{name}: HDF5 file the reader refused ({detail})") from None
    if outside:
        raise HDF5Error(f"{name}: HDF5 {outside[0]}")
    return strings


def check_hdf5(name: str, source: Source, member: str | None = None) -> str:
    """Refuse Keras configs that run code; returns what the file is, for the verdict's detail."""
    keras = False
    for where, text in hdf5_strings(name, source, member):
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


def _outside(f: Any) -> list[str]:
    """Every way the file makes a reader leave its own bytes, in the order h5py meets them."""
    import h5py

    found: list[str] = []

    def link(path: str, info: object) -> None:
        if isinstance(info, h5py.ExternalLink):
            found.append(f"external link /{path} to {info.filename!r} (a reader opens that host file)")

    f.visititems_links(link)

    def dataset(path: str, obj: object) -> None:
        if not isinstance(obj, h5py.Dataset):
            return
        if obj.external:
            files = sorted({str(e[0]) for e in obj.external})
            found.append(f"dataset /{path} is stored in outside files {files} (a reader opens them)")
        elif obj.is_virtual:
            found.append(f"dataset /{path} is virtual (a reader opens its source files)")
        else:
            declared = obj.size * obj.dtype.itemsize
            stored = obj.id.get_storage_size()
            if declared > MAX_SPARSE_BYTES and declared > stored * MAX_DECLARED_RATIO:
                found.append(f"dataset /{path} declares {declared} bytes but stores {stored}")

    f.visititems(dataset)
    return found


def _target(args: list[str]) -> tuple[BinaryIO, object]:
    """The file h5py should open, and what must stay open while it reads."""
    import io
    import zipfile

    member = None
    if args[:1] == ["--member"]:
        member, args = args[1], args[2:]
    if len(args) == 1:
        target: BinaryIO = open(args[0], "rb")  # noqa: SIM115  # held until the child exits
    else:
        from vault._bundle.parts import ChainedReader
        from vault._bundle.reader import RegionFile

        region = RegionFile(ChainedReader([Path(p) for p in args[2:]]), int(args[0]), int(args[1]))
        target = io.BufferedReader(region, buffer_size=1 << 20)
    if member is None:
        return target, target
    archive = zipfile.ZipFile(target)
    return cast(BinaryIO, archive.open(member)), archive


def _probe(args: list[str]) -> dict[str, object]:
    import h5py
    import numpy as np

    target, _keep = _target(args)

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
        outside = _outside(f)
        if not outside:
            collect("/", f)
            f.visititems(lambda n, o: collect("/" + n, o))
    return {"ok": True, "strings": strings, "outside": outside}


if __name__ == "__main__":
    try:
        result = _probe(sys.argv[1:])
    except Exception as exc:  # the parent turns any failure into a refusal
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(result))
