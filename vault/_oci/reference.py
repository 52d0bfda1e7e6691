"""`oci://HOST[:PORT]/REPO[:TAG|@sha256:DIGEST]`: the one grammar every registry command reads.

HOST is a DNS name or an IPv4 address (an IPv6 literal is not accepted).

The grammar is the distribution spec's (repository path components, tag,
digest), kept tight because a reference names a URL path: no userinfo (a
password never goes on a command line), no query, no `..`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vault.errors import UsageError

SCHEME = "oci://"
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_PORT = re.compile(r"[0-9]{1,5}")
_REPO = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
MAX_REPO = 255


@dataclass(frozen=True)
class OciRef:
    host: str  # host[:port], as the registry's URLs and the credentials file name it
    repository: str
    tag: str | None = None
    digest: str | None = None  # sha256:<hex>

    @property
    def reference(self) -> str:
        """What goes after /manifests/: the digest if one was named, else the tag."""
        return self.digest or self.tag or "latest"

    def with_tag(self, tag: str) -> OciRef:
        return OciRef(self.host, self.repository, tag, None)

    def at(self, digest: str) -> OciRef:
        return OciRef(self.host, self.repository, None, digest)

    def __str__(self) -> str:
        tail = f"@{self.digest}" if self.digest else f":{self.tag}" if self.tag else ""
        return f"{SCHEME}{self.host}/{self.repository}{tail}"


def is_oci(text: str) -> bool:
    return text.startswith(SCHEME)


def parse_oci(text: str) -> OciRef:
    def bad(why: str) -> UsageError:
        return UsageError(
            f"invalid registry reference {text!r}: {why} (expected oci://HOST[:PORT]/REPO[:TAG])"
        )

    if not is_oci(text):
        raise bad("not oci://")
    rest = text[len(SCHEME) :]
    host, slash, path = rest.partition("/")
    if not slash or not path:
        raise bad("no repository")
    name, colon, port = host.partition(":")
    if (
        "@" in host
        or not _HOST.fullmatch(name)
        or (colon and not (_PORT.fullmatch(port) and 0 < int(port) < 65536))
    ):
        raise bad("bad host")
    digest = tag = None
    if "@" in path:
        path, _at, digest = path.partition("@")
        if not _DIGEST.fullmatch(digest):
            raise bad("a digest is sha256: and 64 lowercase hex digits")
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, _colon, tag = path.rpartition(":")
        if not _TAG.fullmatch(tag):
            raise bad(f"bad tag {tag!r}")
    if len(path) > MAX_REPO or not _REPO.fullmatch(path):
        raise bad("a repository is lowercase path components")
    # Host names are case-insensitive; the URLs vault builds and the credentials it looks up use one form.
    return OciRef(host.lower(), path, tag, digest)
