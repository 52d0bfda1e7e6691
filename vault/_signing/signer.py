"""What signs for `vault sign` and `vault revoke`: a bare key, a key with its PKI certificate, or a
Sigstore identity.

One place decides, so that a revision and its revocation can be signed the
same way, and the statement bytes never depend on how they are signed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from vault._signing.dsse import sign_payload, sign_payload_with_chain
from vault._signing.keys import key_hint, load_private_key
from vault.errors import UsageError


@dataclass(frozen=True)
class Signer:
    method: str  # "key", "certificate" or "sigstore", as the signature rows record it
    # The key's OMS hint; for Sigstore, sha256 of "sigstore:<identity>:<issuer>" (as a trust entry's).
    fingerprint: str
    sign: Callable[[bytes], bytes]  # statement bytes -> a Sigstore bundle file
    label: str  # how the CLI names the signer
    # Sigstore only: the trusted_root.json of the instance that signed, carried in bundles.
    trusted_root: bytes | None = None


def load_signer(
    key_path: Path,
    password: bytes | None = None,
    cert_path: Path | None = None,
    chain_path: Path | None = None,
) -> Signer:
    key = load_private_key(key_path, password)
    fingerprint = key_hint(key.public_key())
    if cert_path is None:
        if chain_path is not None:
            raise UsageError("--chain needs --cert")
        return Signer("key", fingerprint, partial(sign_payload, key), f"key {fingerprint[:16]}…")
    from vault._signing.certificates import signing_chain

    chain = signing_chain(key, cert_path, chain_path)
    return Signer(
        "certificate", fingerprint, partial(sign_payload_with_chain, key, chain),
        f"certificate {cert_path.name}, key {fingerprint[:16]}…",
    )  # fmt: skip
