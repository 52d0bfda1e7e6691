"""The Sigstore trusted roots a bundle carries: compared with the pinned ones, never trusted.

The signer's side puts the trusted_root.json its signatures were made under
into the bundle. Nobody signs that file, so it cannot vouch for anything; it
only lets the air-gapped side see that the signer's Sigstore moved to a root
other than the one its trust entry pinned, and say so, either as a note on a
verified import or as the reason a refused one may have failed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vault._bundle.index import BundleIndex, trusted_root_digest
from vault._hashing import sha256_hex
from vault._signing.entries import TrustEntry
from vault._signing.trust import TrustPolicy, VerifiedSignature
from vault._signing.trusted_root import content_digest
from vault.errors import BundleFormatError, TrustError


@dataclass(frozen=True)
class CarriedRoots:
    by_content: dict[str, str]  # content digest -> the entry's sha256 (what `sha256sum` shows)

    def notes(self, label: str, verified: Iterable[VerifiedSignature]) -> list[str]:
        """A verified Sigstore signature whose pinned root is not among the carried ones."""
        if not self.by_content:
            return []
        out: list[str] = []
        for entry in {v.signer.name: v.signer for v in verified if _pinned(v.signer)}.values():
            if _content(entry) not in self.by_content:
                out.append(
                    f"{label}: verified against the root pinned for {entry.name} "
                    f"({entry.trusted_root_sha256}); the bundle carries Sigstore trusted root "
                    f"{self._carried()}, which the signer used: its Sigstore may have rotated its root"
                )
        return out

    def explain(self, exc: TrustError, policy: TrustPolicy, repo_id: str | None) -> TrustError:
        """A refusal, with why it may have happened when the signer's root is not the pinned one."""
        entries = [e for e in policy.entries if _pinned(e) and (repo_id is None or e.covers(repo_id))]
        pinned = {_content(e) for e in entries}
        foreign = sorted(sha for content, sha in self.by_content.items() if content not in pinned)
        if not foreign:
            return exc
        if not entries:
            hint = (
                f"the bundle carries Sigstore trusted root {foreign[0]}, "
                "and no Sigstore identity is trusted here"
            )
        else:
            e = entries[0]
            hint = (
                f"the bundle's Sigstore trusted root {foreign[0]} differs from the root pinned for {e.name} "
                f"({e.trusted_root_sha256}): if the signer's Sigstore rotated its root, check the new one "
                f"out of band and run 'vault trust replace-root {e.name} --trusted-root FILE'"
            )
        return type(exc)(f"{exc} ({hint})")

    def _carried(self) -> str:
        return ", ".join(sorted(self.by_content.values()))


def carried_roots(index: BundleIndex, raws: dict[str, bytes]) -> CarriedRoots:
    """Each carried root must be the bytes its name promises, and JSON; nothing more is asked of it."""
    by_content: dict[str, str] = {}
    for name in index.trusted_roots:
        raw = raws[name]
        sha = sha256_hex(raw)
        if sha != trusted_root_digest(name):
            raise BundleFormatError(f"bundle entry {name!r}: its bytes have sha256 {sha}")
        content = content_digest(raw)
        if content is None:
            raise BundleFormatError(f"bundle entry {name!r}: not JSON")
        by_content[content] = sha
    return CarriedRoots(by_content)


def _pinned(entry: TrustEntry) -> bool:
    return entry.kind == "sigstore" and entry.trusted_root is not None


def _content(entry: TrustEntry) -> str | None:
    assert entry.trusted_root is not None
    return content_digest(entry.trusted_root)
