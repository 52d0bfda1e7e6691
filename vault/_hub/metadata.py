"""What the Hub would say about a file: LFS or not, its ETag, its git blob id.

The Hugging Face cache view and `vault serve` must name blobs exactly as the Hub
does (sha256 for LFS files, git blob sha1 for the rest), or clients re-download
or mis-cache. For pulled revisions the Hub's own tree decided; for folders taken
in with `vault add` these rules (the Hub's default .gitattributes, and its
10 MiB limit for plain git files) decide.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from vault._hashing import GIT_SHA1_MAX_SIZE

# Files at or above this size must be LFS on the Hub, so only smaller blobs need a git sha1.

# Suffixes the Hub's default .gitattributes sends to LFS.
LFS_SUFFIXES = (
    ".7z", ".arrow", ".bin", ".bz2", ".ckpt", ".ftz", ".gguf", ".gz", ".h5", ".joblib", ".lfs", ".mlmodel",
    ".model", ".msgpack", ".npy", ".npz", ".onnx", ".ot", ".parquet", ".pb", ".pickle", ".pkl", ".pt", ".pth",
    ".rar", ".safetensors", ".tar", ".tflite", ".tgz", ".wasm", ".xz", ".zip", ".zst",
)  # fmt: skip


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def is_lfs(path: str, size: int, published: dict[str, Any] | None = None) -> bool:
    if published is not None and ("lfs_sha256" in published or "git_blob_sha1" in published):
        return "lfs_sha256" in published
    return size >= GIT_SHA1_MAX_SIZE or path.lower().endswith(LFS_SUFFIXES)


@dataclass(frozen=True)
class HubEntry:
    """One file of a revision as the Hub would describe it."""

    path: str
    size: int
    sha256: str
    lfs: bool
    content_git_sha1: str | None

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.blob_id

    @property
    def blob_id(self) -> str:
        """The git blob id the tree API lists: of the LFS pointer for LFS files."""
        if self.lfs:
            return git_blob_sha1(lfs_pointer(self.sha256, self.size))
        if self.content_git_sha1 is None:
            raise ValueError(f"{self.path}: git blob id unknown")
        return self.content_git_sha1

    def tree_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": "file", "oid": self.blob_id, "size": self.size, "path": self.path}
        if self.lfs:
            entry["lfs"] = {
                "oid": self.sha256,
                "size": self.size,
                "pointerSize": len(lfs_pointer(self.sha256, self.size)),
            }
        return entry
