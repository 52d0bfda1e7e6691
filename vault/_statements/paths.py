"""The grammar every file path inside a revision must obey.

Paths come from signatures and bundles made elsewhere, and become file names
here, so one strict checker guards all of them: no traversal, no absolute or
Windows-style paths, no control, format or separator characters, NFC only,
bounded length.
"""

from __future__ import annotations

import unicodedata

from vault.errors import UnsafeContentError

MAX_PATH_BYTES = 1024
MAX_COMPONENT_BYTES = 255
# Characters that change how a line reads rather than what it says: C0 and C1 controls (the 8-bit
# CSI escape among them), format characters (bidi overrides, zero-width joiners) and the Unicode line
# and paragraph separators. A file name shown by `list`, `show` or a page must read as it is.
_UNSHOWABLE = frozenset({"Cc", "Cf", "Zl", "Zp"})


def unshowable(text: str) -> bool:
    """Whether `text` holds a character that changes how a line reads (see `_UNSHOWABLE`)."""
    return any(unicodedata.category(c) in _UNSHOWABLE for c in text)


def check_relpath(path: str, what: str = "path") -> str:
    def bad(reason: str) -> UnsafeContentError:
        return UnsafeContentError(f"{what} {path!r}: {reason}")

    if not path:
        raise bad("empty")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise bad("not valid Unicode (a lone surrogate)") from None
    if "\\" in path:
        raise bad("backslash in path")
    if any(unicodedata.category(c) == "Cc" for c in path):
        raise bad("control character in path")
    if any(unicodedata.category(c) in _UNSHOWABLE for c in path):
        raise bad("format or line-separator character in path")
    if path.startswith("/"):
        raise bad("absolute path")
    if unicodedata.normalize("NFC", path) != path:
        raise bad("name is not Unicode NFC")
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise bad("path too long")
    for part in path.split("/"):
        if part in ("", ".", ".."):
            raise bad("empty, '.' or '..' component")
        if len(part.encode("utf-8", "surrogatepass")) > MAX_COMPONENT_BYTES:
            raise bad("component too long")
    return path


def _fold(name: str) -> str:
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def check_names_coexist(paths: list[str], what: str = "path") -> None:
    """Names that could land on one file: equal ignoring case and Unicode form, or a file that is
    also a directory of another name (`a` and `a/b`). Either would make the views ambiguous, or
    impossible to build after the catalog already holds the revision."""
    seen: dict[str, str] = {}
    for p in sorted(set(paths)):
        key = _fold(p)
        if key in seen and seen[key] != p:
            raise UnsafeContentError(
                f"{what} {p!r}: collides with {seen[key]!r} ignoring case or Unicode form"
            )
        seen[key] = p
    for key, p in seen.items():
        parts = key.split("/")
        for i in range(1, len(parts)):
            if (parent := "/".join(parts[:i])) in seen:
                raise UnsafeContentError(f"{what} {p!r}: {seen[parent]!r} is a file, and here a directory")
