"""Keyless signing with a Sigstore identity (sigstore-python): a CI workflow's or a person's.

The statement bytes are the ones a key would sign; sigstore-python wraps them
in a DSSE envelope, has Fulcio certify a fresh key for the identity and Rekor
log the signature, and returns the bundle OMS calls a Sigstore signature. The
instance is the public one unless `--trust-config` names a private
deployment; its trusted_root.json is kept with the signature so a bundle can
show the air-gapped side which root the signer used (it is never trusted from
there: the far side verifies against the root its trust entry pinned).
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vault._signing.signer import Signer
from vault.errors import NetworkError, UsageError

DEFAULT_CLIENT_ID = "sigstore"  # the audience Sigstore's Fulcio expects


@dataclass(frozen=True)
class SigstoreSigning:
    """How to reach Sigstore and who signs."""

    trust_config: Path | None = None  # a ClientTrustConfig JSON; None: the public instance (TUF, online)
    identity_token: str | None = None  # None: ambient CI credentials, else the browser flow on a terminal


def sigstore_fingerprint(identity: str, issuer: str) -> str:
    """The same value `vault trust add --identity --issuer` records, so rows and entries line up."""
    return hashlib.sha256(f"sigstore:{identity}:{issuer}".encode()).hexdigest()


def load_sigstore_signer(options: SigstoreSigning) -> Signer:
    """Read the trust config and get the identity now; Fulcio and Rekor are asked at the first signature.

    So a wrong ref or a missing revision fails before any certificate is
    requested, and both statements of one `vault sign` share one certificate.
    """
    from sigstore.errors import Error as SigstoreError
    from sigstore.oidc import IdentityError

    config = _trust_config(options.trust_config)
    try:
        token = _identity_token(config, options.identity_token)
    except IdentityError as exc:
        raise UsageError(f"Sigstore identity token: {exc}") from None
    except SigstoreError as exc:
        raise NetworkError(f"Sigstore OIDC: {exc}") from None
    identity, issuer = token.identity, token.federated_issuer
    root = config.trusted_root._inner.to_json().encode()
    session = _Session(config, token)
    return Signer(
        "sigstore", sigstore_fingerprint(identity, issuer), session.sign,
        f"Sigstore identity {identity} via {issuer}", root,
    )  # fmt: skip


def _trust_config(path: Path | None) -> Any:
    from sigstore.models import ClientTrustConfig

    try:
        if path is None:
            return ClientTrustConfig.production()
        return ClientTrustConfig.from_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from None
    except Exception as exc:  # sigstore-python and its models raise several types
        why = f"{type(exc).__name__}: {exc}"
        if path is None:  # fetched over the network (TUF): a host without it cannot sign keyless
            raise NetworkError(
                f"the public Sigstore instance: its trust root could not be fetched ({why}); "
                "keyless signing needs the network (or --trust-config for a private instance)"
            ) from None
        raise UsageError(f"{path}: not a usable Sigstore trust config ({why})") from None


def _identity_token(config: Any, given: str | None) -> Any:
    """An explicit token, else the CI's ambient one, else the browser flow (only on a terminal)."""
    from sigstore.oidc import IdentityToken, Issuer, detect_credential

    if given:
        return IdentityToken(given, DEFAULT_CLIENT_ID)
    ambient = detect_credential(DEFAULT_CLIENT_ID)
    if ambient:
        return IdentityToken(ambient, DEFAULT_CLIENT_ID)
    if not sys.stdin.isatty():
        raise UsageError(
            "no Sigstore identity: pass --identity-token (or SIGSTORE_IDENTITY_TOKEN), run in a CI job "
            "with OIDC credentials, or run on a terminal for the browser sign-in"
        )
    return Issuer(config.signing_config.get_oidc_url()).identity_token(client_id=DEFAULT_CLIENT_ID)


class _Session:
    """One Fulcio certificate for every statement this command signs (sigstore-python's cache)."""

    def __init__(self, config: Any, token: Any) -> None:
        self._config, self._token = config, token
        self._signer: Any = None

    def sign(self, statement: bytes) -> bytes:
        import requests
        from sigstore._internal.fulcio.client import ExpiredCertificate, FulcioClientError
        from sigstore._internal.rekor import RekorClientError
        from sigstore.errors import Error as SigstoreError
        from sigstore.sign import Signer as SigstoreSigner
        from sigstore.sign import SigningContext

        failures = (requests.RequestException, SigstoreError, FulcioClientError, RekorClientError,
                    ExpiredCertificate, ValueError)  # fmt: skip
        try:
            if self._signer is None:
                self._signer = SigstoreSigner(self._token, SigningContext.from_trust_config(self._config))
            signed: str = self._signer.sign_dsse(_statement(statement)).to_json()
            return signed.encode()
        except failures as exc:
            # Fulcio's client drops the service's message on 4xx; the HTTP error still says which.
            detail = str(exc) or str(exc.__cause__ or exc.__context__ or "no detail")
            raise NetworkError(f"Sigstore signing failed: {type(exc).__name__}: {detail}") from None


def _statement(raw: bytes) -> Any:
    """sigstore-python's DSSE input, over exactly these bytes.

    sigstore-python checks subjects against a narrower digest list than in-toto
    v1 allows, and refuses the revocation statement's `gitCommit` subject. What
    it signs is only the bytes (the DSSE PAE of `_contents`), so such a
    statement is handed over as bytes, unparsed; vault built and checks it.
    """
    from sigstore import dsse
    from sigstore.errors import Error as SigstoreError

    try:
        return dsse.Statement(raw)
    except SigstoreError:
        statement = dsse.Statement.__new__(dsse.Statement)
        statement._contents = raw
        return statement
