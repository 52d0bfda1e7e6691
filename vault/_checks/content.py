"""Judge every file by its bytes, then each revision as a whole.

`check_content` classifies one file by magic numbers and structure and runs
that format's checker; it needs only a way to open the bytes (a staged file,
a store blob, or a region of the bundle), so `add`, `pull`, `verify` and
`import` share it. `judge_revision` then applies what depends on the other
files and on the operator: names that announce a format, ONNX external data
that must be signed in the same revision, pickles and unknown binaries that
need an explicit, audited override.
"""

from __future__ import annotations

import codecs
import posixpath
import re
import struct
import zipfile
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from vault._checks.compressed import MAX_DEPTH, Inner, Source, is_tar, judge_compressed, judge_tar
from vault._checks.formats import FileKind, FormatError, Verdict, check_name_matches
from vault._checks.gguf_grammar import check_gguf
from vault._checks.hdf5_probe import SIGNATURE as HDF5_SIGNATURE
from vault._checks.hdf5_probe import check_hdf5, superblock_offsets
from vault._checks.loader_code import check_named_template, judge_text, runs_code
from vault._checks.numpy_grammar import MAGIC as NPY_MAGIC
from vault._checks.numpy_grammar import PREFIX_BYTES as NPY_PREFIX
from vault._checks.numpy_grammar import check_npy_size, parse_npy_header
from vault._checks.onnx_grammar import ONNXError, is_sentencepiece, onnx_external_locations
from vault._checks.pickle_file import scan_pickle_file
from vault._checks.pickle_probe import read_as_pickle
from vault._checks.pickle_scan import (
    MAX_PICKLE_BYTES,
    PickleError,
    is_pickle_based,
    scan_pickle_stream,
)
from vault._checks.policy import ContentPolicy
from vault._checks.safetensors_grammar import MAX_HEADER_BYTES, check_safetensors
from vault._checks.savedmodel_grammar import savedmodel_ops
from vault._checks.zip_archive import inspect_zip
from vault._statements.paths import check_relpath
from vault.errors import UnsafeContentError

# Image formats model cards carry; checked only after the pickle test, since a GIF header
# ("GIF8…") is also the start of a valid pickle.
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")
_TEXT_CONTROLS = frozenset(range(32)) - {9, 10, 11, 12, 13, 27}
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Content:
    """One file's bytes, however the caller holds them; `path` when they are a file of their own."""

    size: int
    open: Callable[[], AbstractContextManager[BinaryIO]]
    path: Path | None = None
    # Or a region (offset, size, parts) of a bundle, for checkers that run in a child process.
    region: tuple[int, int, list[Path]] | None = None
    # Or a member of the zip at a source (a `.keras` archive's weights).
    member: tuple[Source, str] | None = None

    @property
    def source(self) -> Source | None:
        return self.path if self.path is not None else self.region

    @classmethod
    def of_file(cls, path: Path) -> Content:
        return cls(path.stat().st_size, lambda: open(path, "rb"), path)


def _looks_like_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 9 or head[8:9] != b"{":
        return False
    n: int = struct.unpack("<Q", head[:8])[0]
    return 2 <= n <= size - 8


def _safetensors_prefix(fh: BinaryIO, head: bytes) -> bytes:
    """The 8-byte length and as much header as it announces (bounded): never the tensors."""
    if len(head) < 8:
        return head
    (n,) = struct.unpack("<Q", head[:8])
    fh.seek(0)
    return fh.read(8 + min(n, MAX_HEADER_BYTES))


ORT_MEMORY_ADDRESS = "_ORT_MEM_ADDR_"
SAVEDMODEL_TEXT = "saved_model.pbtxt"
# Names some loader opens a file by: being ONNX external data does not make such a file raw bytes.
LOADER_SUFFIXES = (
    ".joblib",
    ".pkl",
    ".pickle",
    ".pt",
    ".pth",
    ".ckpt",
    ".npy",
    ".npz",
    ".h5",
    ".hdf5",
    ".keras",
    ".gguf",
    ".safetensors",
    ".onnx",
    ".pb",
    ".msgpack",
    ".z",
    ".gz",
    ".bz2",
    ".xz",
    ".lzma",
    ".zip",
    ".tar",
    ".nemo",
)
VARIABLES = re.compile(r"variables\.(index|data-[0-9]{5}-of-[0-9]{5})", re.ASCII)


def _is_text(fh: BinaryIO) -> bool:
    """UTF-8 throughout, with no NUL or other control bytes that text files do not carry."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    fh.seek(0)
    try:
        while chunk := fh.read(_CHUNK):
            if not _TEXT_CONTROLS.isdisjoint(chunk):
                return False
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _hdf5_at(fh: BinaryIO, size: int) -> bool:
    for offset in superblock_offsets(size):
        fh.seek(offset)
        if fh.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
            return True
    return False


def check_content(name: str, content: Content) -> Verdict:
    """What the file is, by its bytes, once its format's checker has passed (else FormatError).

    Nesting deep enough to exhaust Python's stack, anywhere a checker parses
    (a Keras config, an HDF5 attribute, a header), is a refusal naming the
    file: the loader it targets would recurse as deep.
    """
    try:
        return _check_content(name, content, 0)
    except RecursionError:
        raise FormatError(f"{name}: nested too deeply to check, refused") from None


def _judge_inner(name: str, inner: Inner, depth: int) -> Verdict:
    """A member of a compressed file or tar, judged like a file (up to MAX_DEPTH containers deep)."""
    if depth > MAX_DEPTH:
        raise FormatError(f"{name}: containers nested more than {MAX_DEPTH} deep, refused")
    return _check_content(name, Content(inner.size, inner.open, member=inner.member), depth)


# Kinds whose own check already read the file every other way: the pickle and zip kinds, and the kinds
# `_as_its_format` reaches only after reading the file as a tar, a pickle and a zip and finding none.
_READ_EVERY_WAY = frozenset({
    FileKind.PICKLE, FileKind.TORCH_ZIP, FileKind.NUMPY_ZIP, FileKind.KERAS, FileKind.SENTENCEPIECE,
    FileKind.IMAGE, FileKind.TEXT,
})  # fmt: skip


def _check_content(name: str, content: Content, depth: int) -> Verdict:
    """The file as its format reads it, then as the loaders that ignore formats read it.

    `pickle.load` and `torch.load` read a pickle from byte 0 and stop at
    STOP; `zipfile` and `torch.load` find a zip from the file's end. A file
    that is a well-formed GGUF, safetensors or image can leave room for
    either, so every file is read those two ways too, and the worst
    reading decides.
    """
    verdict = _as_its_format(name, content, depth)
    if verdict.kind in _READ_EVERY_WAY or verdict.kind is FileKind.UNKNOWN:
        return verdict
    with content.open() as fh:
        reading = read_as_pickle(fh, content.size)
        if reading is not None:
            fh.seek(0)
            scan_pickle_stream(name, fh.read(reading.end), trailing_ok=True)
            verdict = replace(verdict, pickle=True, detail=f"{verdict.kind.value} that is also a pickle")
        if verdict.kind is not FileKind.COMPRESSED and content.size >= 512 and is_tar(fh):
            # torch's legacy loader tries tarfile on whatever it is given
            verdict = _also(verdict, judge_tar(name, fh, depth, _judge_inner), "tar")
            if verdict.kind is FileKind.UNKNOWN:
                return verdict
        fh.seek(0)
        if zipfile.is_zipfile(fh):
            fh.seek(0)
            verdict = _also(verdict, inspect_zip(name, fh, depth, _judge_inner, content.source), "zip")
    return verdict


def _also(verdict: Verdict, inner: Verdict, container: str) -> Verdict:
    """The file as its format reads it, and as the container another reader finds in it: the worse."""
    if inner.kind is FileKind.UNKNOWN:
        return replace(inner, detail=f"{verdict.kind.value} with a {container} of no known format inside")
    return replace(
        verdict,
        pickle=verdict.pickle or inner.pickle,
        runs_code="; ".join(r for r in (verdict.runs_code, inner.runs_code) if r),
        detail=f"{verdict.kind.value} that is also a {inner.kind.value} {container}",
    )


def _as_its_format(name: str, content: Content, depth: int) -> Verdict:
    size = content.size
    lower = name.lower()
    with content.open() as fh:
        head = fh.read(max(NPY_PREFIX, 8 + 1))
        # A name that announces a format gets that format's checker, and its precise error.
        if lower.endswith(".safetensors"):
            check_safetensors(name, _safetensors_prefix(fh, head), size)
            return Verdict(FileKind.SAFETENSORS)
        if head[:4] == b"GGUF" or lower.endswith(".gguf"):
            fh.seek(0)
            check_gguf(name, fh, size)
            return Verdict(FileKind.GGUF)
        if head[:6] == NPY_MAGIC or lower.endswith(".npy"):
            header = parse_npy_header(name, head)
            check_npy_size(name, header, size)
            if header.has_object:
                if size > MAX_PICKLE_BYTES:
                    raise FormatError(f"{name}: NumPy object array too large to scan ({size} bytes)")
                fh.seek(header.data_offset)
                scan_pickle_stream(name, fh.read())
            return Verdict(FileKind.NUMPY, pickle=header.has_object)
        if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
            fh.seek(0)
            verdict = inspect_zip(name, fh, depth, _judge_inner, content.source)
            if verdict.kind is FileKind.UNKNOWN and is_pickle_based(name):
                raise PickleError(f"{name}: zip checkpoint without a data.pkl")
            return verdict
        compressed = judge_compressed(name, fh, depth, _judge_inner)
        if compressed is not None:
            return compressed
        if size >= 512 and is_tar(fh):
            return judge_tar(name, fh, depth, _judge_inner)
        if _looks_like_safetensors(head, size):
            check_safetensors(name, _safetensors_prefix(fh, head), size)
            return Verdict(FileKind.SAFETENSORS)
        if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
            fh.seek(0)
            scan_pickle_file(name, fh, size)
            return Verdict(FileKind.PICKLE, pickle=True)
        if _hdf5_at(fh, size):
            return Verdict(FileKind.HDF5, detail=_hdf5(name, content))
        if head[:1] in (b"\x08", b"\x12"):
            fh.seek(0)
            ops = savedmodel_ops(name, fh, size)
            if ops is not None:
                # Judged both ways: whatever a reader taking it for ONNX would open must be signed too.
                return Verdict(FileKind.SAVEDMODEL, external=_onnx_reading(name, fh, size),
                               detail=f"TensorFlow SavedModel of {len(ops)} allowed ops")  # fmt: skip
        if head[:1] == b"\x08" or lower.endswith(".onnx"):
            fh.seek(0)
            try:
                return Verdict(FileKind.ONNX, external=onnx_external_locations(name, fh, size))
            except ONNXError:
                if name.lower().endswith(".onnx"):
                    raise
        reading = read_as_pickle(fh, size)
        if reading is not None:
            fh.seek(0)
            scan_pickle_stream(name, fh.read(reading.end))
            end = reading.end
            detail = "protocol 0/1 pickle" if end == size else f"pickle in its first {end} bytes"
            return Verdict(FileKind.PICKLE, pickle=True, detail=detail)
        fh.seek(0)
        if zipfile.is_zipfile(fh):  # a zip appended to anything is still a zip to some loaders
            fh.seek(0)
            return inspect_zip(name, fh, depth, _judge_inner, content.source)
        if head[:1] == b"\x0a" and is_sentencepiece(fh, size):
            return Verdict(FileKind.SENTENCEPIECE)
        if head.startswith(IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
            return Verdict(FileKind.IMAGE)
        if _is_text(fh):
            return judge_text(name, fh, size)
    return Verdict(FileKind.UNKNOWN, detail="binary of no format vault can check")


def _onnx_reading(name: str, fh: BinaryIO, size: int) -> tuple[str, ...]:
    """The external data a reader that takes these bytes for ONNX would open (none if it is not ONNX)."""
    fh.seek(0)
    try:
        return onnx_external_locations(name, fh, size)
    except ONNXError:
        return ()


def _savedmodel_data(files: Mapping[str, Verdict]) -> set[str]:
    """The variables and fingerprint a SavedModel's loader reads beside it: raw data, judged by content."""
    found: set[str] = set()
    for path, verdict in files.items():
        if verdict.kind is FileKind.SAVEDMODEL:
            base = posixpath.dirname(path)
            found |= {
                p for p in files
                if (posixpath.dirname(p) == base and posixpath.basename(p) == "fingerprint.pb")
                or (posixpath.dirname(p) == posixpath.join(base, "variables")
                and VARIABLES.fullmatch(posixpath.basename(p)) is not None)
            }  # fmt: skip
    return found


def _hdf5(name: str, content: Content) -> str:
    """The HDF5 child reads the file itself: from its path, or from the bundle's parts (never a copy)."""
    if content.source is not None:
        return check_hdf5(name, content.source)
    if content.member is not None:
        return check_hdf5(name, *content.member)
    raise FormatError(f"{name}: HDF5 content is checked only in a file, a bundle or a .keras archive")


def judge_revision(label: str, files: Mapping[str, Verdict], policy: ContentPolicy) -> dict[str, str]:
    """The rules that need the whole revision (or the operator) beyond each file's own check.

    Returns the files that run code when loaded (path -> why), each one the
    operator named with --allow-code; any other is refused.
    """
    referenced: set[str] = _savedmodel_data(files)
    code: dict[str, str] = {}
    for path, verdict in sorted(files.items()):
        check_name_matches(path, verdict)
        check_named_template(path, verdict)
        if posixpath.basename(path).lower() == SAVEDMODEL_TEXT:
            # TensorFlow loads this text form (when no saved_model.pb is beside it) and runs its graph.
            raise FormatError(f"{path}: a SavedModel in text form; vault judges only a binary saved_model.pb")
        for location in verdict.external:
            try:
                check_relpath(location, "external data location")
            except UnsafeContentError as exc:
                raise FormatError(f"{path}: ONNX {exc} (it would read outside the model)") from None
            if ORT_MEMORY_ADDRESS in location.split("/"):
                # onnxruntime reads `*/_ORT_MEM_ADDR_/*` as a process memory address, not a file,
                # even when a file of that very name is shipped beside the model.
                raise FormatError(
                    f"{path}: ONNX external data {location!r} names onnxruntime's in-memory address form"
                )
            target = posixpath.join(posixpath.dirname(path), location)
            if target not in files:
                raise FormatError(f"{path}: ONNX external data {location!r} is not a file signed in {label}")
            if not target.lower().endswith(LOADER_SUFFIXES):
                # Raw bytes to onnxruntime; a name another loader opens by is judged as that loader reads it.
                referenced.add(target)
        for ref in verdict.code_refs:
            _check_code_ref(label, path, ref, files)
        reason = runs_code(path, verdict)
        if reason:
            code[path] = reason
    for path, verdict in sorted(files.items()):
        if verdict.pickle and not policy.allow_pickle:
            raise UnsafeContentError(
                f"{path}: {verdict.kind.value} content unpickles when loaded (it can run code) and is "
                "refused by default, whatever its name; --allow-pickle admits it after the allow-list scan"
            )
        if verdict.kind is FileKind.UNKNOWN and path not in referenced and not policy.allow_unknown:
            raise UnsafeContentError(
                f"{path}: {verdict.detail}; refused by default so a new format fails closed "
                "(vault cannot tell what it does when loaded; the operator guide covers the audited override)"
            )
    for path, reason in sorted(code.items()):
        if path not in policy.allow_code:
            raise UnsafeContentError(
                f"{path}: runs code when loaded ({reason}); refused by default "
                "(the operator guide covers the audited override, which names each file)"
            )
    return code


def _check_code_ref(label: str, path: str, ref: str, files: Mapping[str, Verdict]) -> None:
    """An auto_map entry must name a module signed beside it: never another repository's code."""
    if "--" in ref:
        raise FormatError(
            f"{path}: auto_map names code in another repository ({ref}), which the loader would fetch "
            f"and {label} does not sign; refused"
        )
    module = ref.rsplit(".", 1)[0]
    target = posixpath.join(posixpath.dirname(path), f"{module}.py")
    if target not in files:
        raise FormatError(
            f"{path}: auto_map names {target}, which is not a file signed in {label} "
            "(the loader would fetch it)"
        )


def check_files(label: str, files: Mapping[str, Content], policy: ContentPolicy) -> dict[str, Verdict]:
    """Check every file of one revision held as files (add, pull): each by its bytes, then together."""
    verdicts = {path: check_content(path, content) for path, content in sorted(files.items())}
    judge_revision(label, verdicts, policy)
    return verdicts
