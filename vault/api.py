"""The Python surface: `open_vault()` and `resolve()`. The CLI calls only what is here."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vault._home import Home
from vault._resolver import resolve
from vault._statements.refs import parse_ref

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

    from vault._hub.cache_view import HFCacheView
    from vault._progress import Progress
    from vault._signing.entries import TrustEntry
    from vault._signing.signer import Signer
    from vault._signing.sigstore_signing import SigstoreSigning
    from vault.reports import AuditEntry, AuditReport, ProvenanceReport, RevisionDetail, RevisionSummary
    from vault.results import (
        BundleResult,
        EvidenceExported,
        FsckReport,
        GcResult,
        ImportResult,
        InventoryWritten,
        MlBom,
        RefMove,
        RevisionAdded,
        RevokeResult,
        RootReplaced,
        ScrubReport,
        SignResult,
        VerifyReport,
    )


class Vault(Home):
    """The public façade: a `Home` whose methods call the operations. Pass it explicitly."""

    @property
    def hf_cache(self) -> HFCacheView:
        from vault._store.views import hf_view

        return hf_view(self)

    def publish(self, repo_ids: list[str]) -> None:
        """Bring the directory and Hugging Face views of these models in line with the catalog."""
        from vault._store.views import publish

        with self.writer_lock():
            publish(self, repo_ids)

    def rebuild_hf_cache(self) -> int:
        from vault._store.views import rebuild_hf_view

        return rebuild_hf_view(self)

    # -- trust -----------------------------------------------------------

    def trust_add(
        self,
        name: str,
        key_path: Path | None,
        scopes: list[str],
        expires_at: str | None = None,
        sigstore: tuple[str, str, Path] | None = None,
        ca_path: Path | None = None,
        *,
        each_identity_counts: bool = False,
    ) -> TrustEntry:
        """Trust a public key, a CA (certificate signatures) or a Sigstore identity, for `scopes`.

        In a quorum the entry counts as one party; with `each_identity_counts`
        (a CA only) each leaf key it admits counts on its own.
        """
        from vault._ops import trust_admin as trust

        return trust.trust_add(
            self,
            name,
            key_path,
            scopes,
            expires_at,
            sigstore,
            ca_path,
            each_identity_counts=each_identity_counts,
        )

    def trust_quorum(self, scope: str, required: int) -> None:
        """Require `required` distinct trusted model signers for repos matching `scope` (1 removes it)."""
        from vault._ops import trust_admin as trust

        trust.trust_quorum(self, scope, required)

    def trust_quorums(self) -> dict[str, int]:
        from vault._ops import trust_admin as trust

        return trust.trust_quorums(self)

    def trust_list(self) -> list[TrustEntry]:
        from vault._ops import trust_admin as trust

        return trust.trust_list(self)

    def trust_replace_root(self, name: str, root_path: Path) -> RootReplaced:
        """Pin another trusted_root.json for a Sigstore trust entry (audited)."""
        from vault._ops import trust_admin as trust

        return trust.trust_replace_root(self, name, root_path)

    def trust_remove(self, name: str) -> None:
        from vault._ops import trust_admin as trust

        trust.trust_remove(self, name)

    # -- connected side --------------------------------------------------

    def add(
        self,
        directory: Path,
        repo_id: str,
        revision: str | None = None,
        ref: str = "main",
        signature: Path | None = None,
        allow_pickle: bool = False,
        progress: Progress | None = None,
        allow_unknown: bool = False,
    ) -> RevisionAdded:
        """Take in a local folder (pinned to `revision` if it is a commit; `ref` moves to it)."""
        from vault._ops.ingest import add_directory

        return add_directory(self, directory, repo_id, revision, ref, signature, allow_pickle, progress,
                             allow_unknown)  # fmt: skip

    def pull(
        self,
        repo_id: str,
        revision: str = "main",
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        endpoint: str | None = None,
        token: str | None = None,
        progress: bool = False,
        allow_pickle: bool = False,
        allow_unknown: bool = False,
    ) -> RevisionAdded:
        """Pull from the Hub or a mirror, pinned to the commit `revision` resolves to, checked per file."""
        from vault._hub.client import pull

        return pull(self, repo_id, revision, include, exclude, endpoint, token, progress, allow_pickle,
                    allow_unknown)  # fmt: skip

    def sign(
        self,
        ref: str,
        key_path: Path | None = None,
        out_dir: Path | None = None,
        password: bytes | None = None,
        cert_path: Path | None = None,
        chain_path: Path | None = None,
        sigstore: SigstoreSigning | None = None,
    ) -> SignResult:
        """Sign with the key; with `cert_path` (and `chain_path`), as a PKI certificate signature;
        or with `sigstore`, keyless as a Sigstore identity."""
        from vault._ops.attest import sign_revision

        spec = parse_ref(ref)
        signer = _signer(key_path, password, cert_path, chain_path, sigstore)
        return sign_revision(self, spec, signer, out_dir)

    def revoke(
        self,
        ref: str,
        reason: str,
        key_path: Path | None = None,
        password: bytes | None = None,
        cert_path: Path | None = None,
        chain_path: Path | None = None,
        sigstore: SigstoreSigning | None = None,
    ) -> RevokeResult:
        from vault._ops.revocation import checked_reason, revoke

        spec, why = parse_ref(ref), checked_reason(reason)
        return revoke(self, spec, why, _signer(key_path, password, cert_path, chain_path, sigstore))

    def bundle(
        self,
        refs: list[str],
        out: Path,
        split_size: int | None = None,
        progress: Progress | None = None,
        *,
        base: Sequence[str] = (),
        have: Path | None = None,
        parity: int = 0,
    ) -> BundleResult:
        """Write a bundle; `base` revisions and a `have` receipt make it a delta (see `_bundle.delta`);
        `parity` parity parts let the far side rebuild that many lost or damaged parts."""
        from vault._bundle.delta import blobs_already_sent
        from vault._bundle.writer import write_bundle

        specs = [parse_ref(r) for r in refs]
        omit = blobs_already_sent(self, [parse_ref(r) for r in base], have) if base or have else frozenset()
        return write_bundle(self, specs, out, split_size, progress, omit, parity)

    def inventory(
        self,
        out: Path,
        key_path: Path,
        password: bytes | None = None,
        cert_path: Path | None = None,
        chain_path: Path | None = None,
    ) -> InventoryWritten:
        """Sign a receipt of what this vault holds, for the connected side's `bundle --have`."""
        from vault._ops.inventory import write_inventory

        return write_inventory(self, _signer(key_path, password, cert_path, chain_path, None), out)

    def set_ref(self, ref: str, commit: str, allow_downgrade: bool = False) -> RefMove:
        """Point a ref at a held revision on the operator's word (audited; back in time only if allowed)."""
        from vault._ops.ref_update import move_ref

        return move_ref(self, parse_ref(ref), commit, allow_downgrade)

    # -- air-gapped side -------------------------------------------------

    def verify_bundle(
        self,
        path: Path,
        allow_pickle: bool = False,
        progress: Progress | None = None,
        allow_unknown: bool = False,
    ) -> VerifyReport:
        from vault._checks.policy import ContentPolicy
        from vault._verify.verifier import verify_bundle

        return verify_bundle(self, path, ContentPolicy(allow_pickle, allow_unknown=allow_unknown), progress)

    def import_bundle(
        self,
        path: Path,
        allow_pickle: bool = False,
        allow_downgrade: bool = False,
        progress: Progress | None = None,
        allow_unknown: bool = False,
    ) -> ImportResult:
        from vault._checks.policy import ContentPolicy
        from vault._verify.importer import import_bundle

        policy = ContentPolicy(allow_pickle, allow_downgrade, allow_unknown)
        return import_bundle(self, path, policy, progress)

    # -- queries ---------------------------------------------------------

    def server(
        self,
        host: str = "127.0.0.1",
        port: int = 8000,
        log_requests: bool = True,
        idle_timeout: float = 30.0,
        ui: bool = True,
    ) -> ThreadingHTTPServer:
        """The read-only Hub-compatible HTTP server over this home (call `serve_forever()` on it);
        with `ui`, also the catalog pages for people at `/`."""
        from vault._hub.server import make_server

        return make_server(self, host, port, log_requests, idle_timeout, ui)

    def path(self, ref: str) -> Path:
        from vault._resolver import revision_path

        return revision_path(self, parse_ref(ref))

    def list(self) -> list[RevisionSummary]:
        from vault._ops.reports import list_revisions

        return self.read(list_revisions)

    def show(self, ref: str) -> RevisionDetail:
        from vault._ops.reports import show_revision

        spec = parse_ref(ref)
        return self.read(lambda r: show_revision(r, spec, self.store))

    def bom(self, ref: str) -> MlBom:
        """A CycloneDX ML-BOM of the revision, validated against the CycloneDX 1.6 schema."""
        from vault._ops.bom import build_bom

        return build_bom(self, parse_ref(ref))

    def export_evidence(
        self, ref: str, out: Path, key_path: Path | None = None, password: bytes | None = None
    ) -> EvidenceExported:
        """Write the revision's signed statements and an import attestation (signed with `key_path`)."""
        from vault._ops.evidence import export_evidence

        spec = parse_ref(ref)
        signer = _signer(key_path, password, None, None, None) if key_path is not None else None
        return export_evidence(self, spec, out, signer)

    def provenance(self, ref: str) -> ProvenanceReport:
        from vault._ops.reports import provenance_report

        spec = parse_ref(ref)
        return self.read(lambda r: provenance_report(r, spec))

    def fsck(self) -> FsckReport:
        from vault._ops.fsck import fsck

        return fsck(self)

    def scrub(self) -> ScrubReport:
        from vault._ops.maintenance import scrub

        return scrub(self)

    def gc(self, dry_run: bool = False) -> GcResult:
        from vault._ops.maintenance import gc

        return gc(self, dry_run)

    def audit_events(self) -> builtins.list[AuditEntry]:
        return self.audit_report().events

    def audit_report(self) -> AuditReport:
        """Every audit event, and whether the hash chain over them is intact."""
        from vault._ops.reports import audit_report

        with self.session() as s:
            return audit_report(s)


def keygen(prefix: str, password: bytes | None = None) -> tuple[Path, Path]:
    """Write PREFIX.pem (private, 0600, encrypted if `password`) and PREFIX.pub.pem; never overwrites."""
    from vault._signing.keys import write_key_pair

    return write_key_pair(prefix, password)


def open_vault(home: Path | str | None = None, create: bool = True, readonly: bool | None = False) -> Vault:
    return Vault.open(Path(home) if home is not None else None, create=create, readonly=readonly)


def __getattr__(name: str) -> object:
    """`ImportResult` and `RefMove`, long importable from here, without loading every result class."""
    if name in ("ImportResult", "RefMove"):
        from vault import results

        return getattr(results, name)
    raise AttributeError(name)


__all__ = ["ImportResult", "RefMove", "Vault", "keygen", "open_vault", "resolve"]


def _signer(
    key_path: Path | None,
    password: bytes | None,
    cert_path: Path | None,
    chain_path: Path | None,
    sigstore: SigstoreSigning | None,
) -> Signer:
    """Exactly one way to sign: a key (optionally with its certificate), or a Sigstore identity."""
    from vault.errors import UsageError

    if sigstore is not None:
        if key_path is not None or cert_path is not None or chain_path is not None:
            raise UsageError("--sigstore signs keyless: give it without --key, --cert or --chain")
        from vault._signing.sigstore_signing import load_sigstore_signer

        return load_sigstore_signer(sigstore)
    if key_path is None:
        raise UsageError("give --key (with --cert for PKI) or --sigstore")
    from vault._signing.signer import load_signer

    return load_signer(key_path, password, cert_path, chain_path)
