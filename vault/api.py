"""The Python surface: `open_vault()` and `resolve()`. The CLI calls only what is here."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vault._home import Home
from vault._resolver import resolve
from vault._statements.refs import Ref, parse_ref

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

    from vault._checks.policy import ContentPolicy
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
        NodeCheck,
        PolicyExported,
        PublishedArtifact,
        RefMove,
        RevisionAdded,
        RevokeResult,
        RootReplaced,
        ScrubReport,
        SignResult,
        VerifyReport,
    )


class Vault:
    """One vault home, and everything the command line can do with it.

    It holds a private `Home` (directory, catalog, store, writer lock) rather
    than being one, so sessions, engines and locks are not part of the API.
    Open it with `Vault.open()` or `open_vault()` and close it (or use it as a
    context manager). Every method raises a `VaultError` subclass on failure,
    each with its exit code: `VerificationError` (`TrustError`,
    `IntegrityError`, `BundleFormatError`, `UnsafeContentError`) when input is
    refused, `UsageError` for a bad argument, `NotFoundError` for an unknown
    model or revision, `ConflictError`, `HomeNotWritableError`,
    `CatalogUnavailableError`, `NetworkError`; `OSError` passes through.
    """

    def __init__(self, home: Home) -> None:
        self._home = home

    @classmethod
    def open(cls, home: Path | None = None, *, create: bool = True, readonly: bool | None = False) -> Vault:
        """Open the vault at `home` (default: `VAULT_HOME`, else the user data dir).

        `create` makes the home if missing; `readonly` never writes a byte (and
        works for another user or on a read-only mount); `None` writes where
        this user may and reads otherwise.

        Raises: `NotFoundError` (no vault there, when not creating),
        `HomeNotWritableError`, `CatalogUnavailableError`.
        """
        return cls(Home.open(home, create=create, readonly=readonly))

    @property
    def home(self) -> Path:
        """The home directory."""
        return self._home.home

    @property
    def readonly(self) -> bool:
        """Opened only to read: every method that writes raises `HomeNotWritableError`."""
        return self._home.readonly

    def close(self) -> None:
        """Release the catalog's connections (the home stays as it is)."""
        self._home.close()

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def hf_cache_root(self) -> Path:
        """The Hugging Face cache view: point `HF_HUB_CACHE` here (with `HF_HUB_OFFLINE=1`)."""
        from vault._ops.views import hf_view

        return hf_view(self._home).root

    def publish(self, repo_ids: builtins.list[str]) -> None:
        """Bring the directory and Hugging Face views of these models in line with the catalog."""
        from vault._ops.views import publish

        publish(self._home, repo_ids)

    def rebuild_hf_cache(self) -> int:
        """Recreate the whole Hugging Face cache view from the catalog; returns how many models it holds."""
        from vault._ops.views import rebuild_hf_view

        return rebuild_hf_view(self._home)

    # -- trust -----------------------------------------------------------

    def trust_add(
        self,
        name: str,
        *,
        scopes: builtins.list[str],
        key_path: Path | None = None,
        ca_path: Path | None = None,
        sigstore: tuple[str, str, Path] | None = None,
        expires_at: str | None = None,
        each_identity_counts: bool = False,
    ) -> TrustEntry:
        """Trust a public key, a CA (certificate signatures) or a Sigstore identity (identity, issuer,
        trusted_root.json), exactly one of them, for repositories matching `scopes`.

        In a quorum the entry counts as one party; with `each_identity_counts`
        (a CA only) each leaf key it admits counts on its own.

        Returns the entry. Raises `UsageError` (a bad name, scope, key or root),
        `ConflictError` (the name is taken).
        """
        from vault._ops import trust_admin as trust

        return trust.trust_add(
            self._home,
            name,
            key_path,
            scopes,
            expires_at,
            sigstore,
            ca_path,
            each_identity_counts=each_identity_counts,
        )

    def trust_quorum(self, scope: str, required: int) -> None:
        """Require `required` distinct trusted signers, on the model and the provenance statement,
        for repos matching `scope` (1 removes the rule). Raises `UsageError`."""
        from vault._ops import trust_admin as trust

        trust.trust_quorum(self._home, scope, required)

    def trust_quorums(self) -> dict[str, int]:
        """Scope -> signers required, for every quorum rule."""
        from vault._ops import trust_admin as trust

        return trust.trust_quorums(self._home)

    def trust_list(self) -> builtins.list[TrustEntry]:
        """Every trust entry, by name."""
        from vault._ops import trust_admin as trust

        return trust.trust_list(self._home)

    def trust_replace_root(self, name: str, root_path: Path) -> RootReplaced:
        """Pin another trusted_root.json for a Sigstore trust entry (audited)."""
        from vault._ops import trust_admin as trust

        return trust.trust_replace_root(self._home, name, root_path)

    def trust_remove(self, name: str) -> None:
        """Stop trusting an entry (audited). Raises `NotFoundError`."""
        from vault._ops import trust_admin as trust

        trust.trust_remove(self._home, name)

    # -- connected side --------------------------------------------------

    def add(
        self,
        directory: Path,
        repo_id: str,
        *,
        revision: str | None = None,
        ref: str = "main",
        signature: Path | None = None,
        allow_pickle: bool = False,
        progress: Progress | None = None,
        allow_unknown: bool = False,
        allow_code: Sequence[str] = (),
    ) -> RevisionAdded:
        """Take in a local folder (pinned to `revision` if it is a commit; `ref` moves to it).

        `signature`: a publisher's OMS signature the folder must match exactly.
        `allow_code`: the paths of files that run code when loaded which the
        operator admits (any other such file is refused).
        Returns what was added (or that it was already here). Raises
        `UnsafeContentError` (content refused), `TrustError`/`IntegrityError`
        (the signature), `UsageError`.
        """
        from vault._checks.policy import ContentPolicy
        from vault._ops.ingest import add_directory

        policy = ContentPolicy(allow_pickle, allow_unknown=allow_unknown, allow_code=frozenset(allow_code))
        return add_directory(self._home, directory, repo_id, revision, ref, signature, policy, progress)

    def pull(
        self,
        repo_id: str,
        *,
        revision: str = "main",
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        endpoint: str | None = None,
        token: str | None = None,
        progress: bool = False,
        allow_pickle: bool = False,
        allow_unknown: bool = False,
        allow_code: Sequence[str] = (),
    ) -> RevisionAdded:
        """Pull from the Hub or a mirror, pinned to the commit `revision` resolves to, checked per file.

        `allow_code` as for `add`.

        Raises `NetworkError`, `NotFoundError` (no such repo, revision or
        file), `IntegrityError` (a file differs from what the Hub published),
        `UnsafeContentError`.
        """
        from vault._checks.policy import ContentPolicy
        from vault._ops.pull import pull

        policy = ContentPolicy(allow_pickle, allow_unknown=allow_unknown, allow_code=frozenset(allow_code))
        return pull(self._home, repo_id, revision, include, exclude, endpoint, token, progress, policy)

    def sign(
        self,
        ref: str,
        *,
        key_path: Path | None = None,
        out_dir: Path | None = None,
        password: bytes | None = None,
        cert_path: Path | None = None,
        chain_path: Path | None = None,
        sigstore: SigstoreSigning | None = None,
    ) -> SignResult:
        """Sign the revision's model and provenance statements with the key; with `cert_path` (and
        `chain_path`), as a PKI certificate signature; or with `sigstore`, keyless.

        Raises `UsageError` (no or two ways to sign, a certificate that may not
        sign), `NotFoundError`, `NetworkError` (Sigstore).
        """
        from vault._ops.attest import sign_revision

        spec = parse_ref(ref)
        self._held(spec)  # before a key is read or Sigstore is asked: a wrong REF fails first
        signer = _signer(key_path, password, cert_path, chain_path, sigstore)
        return sign_revision(self._home, spec, signer, out_dir)

    def revoke(
        self,
        ref: str,
        *,
        reason: str,
        key_path: Path | None = None,
        password: bytes | None = None,
        cert_path: Path | None = None,
        chain_path: Path | None = None,
        sigstore: SigstoreSigning | None = None,
    ) -> RevokeResult:
        """Sign a revocation of the revision and apply it here; every later bundle carries it.

        Raises `UsageError` (no reason, no way to sign), `NotFoundError`.
        """
        from vault._ops.revocation import checked_reason, revoke

        spec, why = parse_ref(ref), checked_reason(reason)
        self._held(spec, any_status=True)
        return revoke(self._home, spec, why, _signer(key_path, password, cert_path, chain_path, sigstore))

    def _held(self, spec: Ref, any_status: bool = False) -> None:
        """NotFoundError unless this vault holds the revision (before any signing is set up)."""
        from vault._catalog.reads import find_revision

        self._home.read(lambda r: find_revision(r, spec, any_status=any_status))

    def bundle(
        self,
        refs: builtins.list[str],
        out: Path,
        *,
        split_size: int | None = None,
        progress: Progress | None = None,
        base: Sequence[str] = (),
        have: Path | None = None,
        parity: int = 0,
    ) -> BundleResult:
        """Write a bundle; `base` revisions and a `have` receipt make it a delta (see `_bundle.delta`);
        `parity` parity parts let the far side rebuild that many lost or damaged parts.

        Raises `ConflictError` (an unsigned revision), `NotFoundError`,
        `TrustError` (a receipt no receipts key signed), `UsageError`.
        """
        from vault._ops.bundle import write_bundle
        from vault._ops.delta import blobs_already_sent

        specs = [parse_ref(r) for r in refs]
        omit = (
            blobs_already_sent(self._home, [parse_ref(r) for r in base], have)
            if base or have
            else frozenset()
        )
        return write_bundle(self._home, specs, out, split_size, progress, omit, parity)

    def inventory(
        self,
        out: Path,
        *,
        key_path: Path,
        password: bytes | None = None,
        cert_path: Path | None = None,
        chain_path: Path | None = None,
    ) -> InventoryWritten:
        """Sign a receipt of what this vault holds, for the connected side's `bundle --have`."""
        from vault._ops.inventory import write_inventory

        return write_inventory(self._home, _signer(key_path, password, cert_path, chain_path, None), out)

    def trust_export(
        self,
        out: Path,
        *,
        key_path: Path,
        password: bytes | None = None,
        cert_path: Path | None = None,
        chain_path: Path | None = None,
    ) -> PolicyExported:
        """Write the trust policy (entries, scopes, quorum, pinned roots, revoked content) as one file
        signed with `key_path`, for `check_model` on nodes that pin its public half.

        Raises `UsageError` (nothing trusted yet, or the policy too large).
        """
        from vault._ops.policy_export import export_policy

        return export_policy(self._home, _signer(key_path, password, cert_path, chain_path, None), out)

    def set_ref(self, ref: str, commit: str, *, allow_downgrade: bool = False) -> RefMove:
        """Point a ref at a held revision on the operator's word (audited; back in time only if allowed).

        Raises `NotFoundError`, `ConflictError` (a move back without `allow_downgrade`).
        """
        from vault._ops.ref_update import move_ref

        return move_ref(self._home, parse_ref(ref), commit, allow_downgrade)

    # -- air-gapped side -------------------------------------------------

    def verify_bundle(
        self, path: Path, *, policy: ContentPolicy | None = None, progress: Progress | None = None
    ) -> VerifyReport:
        """Every check an import makes, and no write. Fail closed.

        Raises a `VerificationError` subclass naming the file, entry or
        signature refused (and the damaged part, when the media is damaged).
        """
        from vault._ops.verifier import verify_bundle

        return verify_bundle(self._home, path, policy, progress)

    def import_bundle(
        self, path: Path, *, policy: ContentPolicy | None = None, progress: Progress | None = None
    ) -> ImportResult:
        """Verify the bundle, then store and catalog it: all of it, or nothing.

        `policy` carries the operator's audited overrides (`ContentPolicy`).
        Raises a `VerificationError` subclass (nothing is written), or
        `HomeNotWritableError`; an interruption keeps only verified blobs, for
        the next run.
        """
        from vault._ops.importer import import_bundle

        return import_bundle(self._home, path, policy, progress)

    def publish_registry(
        self,
        ref: str,
        target: str,
        *,
        ca_file: Path | None = None,
        plain_http: bool = False,
        auth_file: Path | None = None,
        progress: Progress | None = None,
        modelcar_base: str | None = None,
    ) -> PublishedArtifact:
        """Push a signed, available revision to an OCI registry (`oci://HOST[:PORT]/REPO[:TAG]`) as a
        CNCF ModelPack artifact, with its signatures and provenance as referrers.

        Credentials come from `auth_file`, else `REGISTRY_AUTH_FILE`, else
        `~/.docker/config.json`. `ca_file` is the site's CA; `plain_http`
        speaks HTTP (credentials travel in clear). `modelcar_base`
        (`oci://…` in the same registry) also pushes a KServe modelcar image,
        the base plus the model under /models, tagged `TAG-modelcar`.
        Raises `UsageError`, `NotFoundError`, `ConflictError` (unsigned),
        `NetworkError`, `AccessDeniedError`.
        """
        from vault._oci.client import connect
        from vault._oci.reference import parse_oci
        from vault._ops.oci_publish import publish_oci

        oci = parse_oci(target)
        car = None
        if modelcar_base is not None:
            base = parse_oci(modelcar_base)
            car = (base, connect(base, ca_file, plain_http, auth_file))
        client = connect(oci, ca_file, plain_http, auth_file)
        return publish_oci(self._home, parse_ref(ref), oci, client, progress, car)

    def import_registry(
        self,
        source: str,
        *,
        ca_file: Path | None = None,
        plain_http: bool = False,
        auth_file: Path | None = None,
        policy: ContentPolicy | None = None,
        progress: Progress | None = None,
    ) -> ImportResult:
        """Verify a revision `vault publish` put in a registry exactly as a bundle is verified, then
        store and catalog it (all of it, or nothing). Options as for `publish`.

        Raises a `VerificationError` subclass (nothing is written), `NetworkError`,
        `AccessDeniedError`, `NotFoundError`.
        """
        from vault._oci.client import connect
        from vault._oci.reference import parse_oci
        from vault._ops.oci_import import import_oci

        oci = parse_oci(source)
        return import_oci(self._home, oci, connect(oci, ca_file, plain_http, auth_file), policy, progress)

    # -- queries ---------------------------------------------------------

    def server(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        log_requests: bool = True,
        idle_timeout: float = 30.0,
        ui: bool = True,
    ) -> ThreadingHTTPServer:
        """The read-only Hub-compatible HTTP server over this home (call `serve_forever()` on it);
        with `ui`, also the catalog pages for people at `/`."""
        from vault._hub.server import make_server

        return make_server(self._home, host, port, log_requests, idle_timeout, ui)

    def path(self, ref: str) -> Path:
        """The directory of the revision's verified files. Raises `NotFoundError` (unknown, revoked
        or damaged: the message says which)."""
        from vault._resolver import revision_path

        return revision_path(self._home, parse_ref(ref))

    def list(self) -> builtins.list[RevisionSummary]:
        """Every revision, with its status and refs."""
        from vault._reads.reports import list_revisions

        return self._home.read(list_revisions)

    def show(self, ref: str) -> RevisionDetail:
        """One revision: files, signatures, revocations. Raises `NotFoundError`."""
        from vault._reads.reports import show_revision

        spec = parse_ref(ref)
        return self._home.read(lambda r: show_revision(r, spec, self._home.store))

    def bom(self, ref: str, *, out: Path | None = None) -> MlBom:
        """A CycloneDX ML-BOM of the revision, validated against the CycloneDX 1.6 schema; with `out`,
        also written there (into a folder that exists: `UsageError` names a missing one first)."""
        from vault._ops.bom import build_bom
        from vault._output_paths import output_file

        target = output_file(out) if out is not None else None
        bom = build_bom(self._home, parse_ref(ref))
        if target is not None:
            target.write_text(bom.json + "\n", encoding="utf-8")
        return bom

    def export_evidence(
        self, ref: str, out: Path, *, key_path: Path | None = None, password: bytes | None = None
    ) -> EvidenceExported:
        """Write the revision's signed statements and an import attestation (signed with `key_path`)."""
        from vault._ops.evidence import export_evidence

        spec = parse_ref(ref)
        signer = _signer(key_path, password, None, None, None) if key_path is not None else None
        return export_evidence(self._home, spec, out, signer)

    def provenance(self, ref: str) -> ProvenanceReport:
        """Where the revision came from, as its signed provenance says. Raises `NotFoundError`."""
        from vault._reads.reports import provenance_report

        spec = parse_ref(ref)
        return self._home.read(lambda r: provenance_report(r, spec))

    def fsck(self) -> FsckReport:
        """Catalog, store, views and audit chain compared; the report carries its own verdict."""
        from vault._ops.fsck import fsck

        return fsck(self._home)

    def scrub(self) -> ScrubReport:
        """Re-hash every blob; damaged revisions are withdrawn until an import repairs them."""
        from vault._ops.maintenance import scrub

        return scrub(self._home)

    def gc(self, *, dry_run: bool = False) -> GcResult:
        """Remove blobs no revision uses, views of revoked revisions, and kept scratch."""
        from vault._ops.maintenance import gc

        return gc(self._home, dry_run)

    def audit_events(self) -> builtins.list[AuditEntry]:
        """Every audit event, oldest first."""
        return self.audit_report().events

    def audit_report(self) -> AuditReport:
        """Every audit event, and whether the hash chain over them is intact."""
        from vault._reads.reports import audit_report

        with self._home.session() as s:
            return audit_report(s)


def read_password(password_file: Path | None) -> bytes | None:
    """A signing key's passphrase: the file's first line, else `VAULT_KEY_PASSWORD`, else none.
    Never a command-line argument. Raises `UsageError` (unreadable, empty, not a regular file)."""
    from vault._signing.keys import read_password as read

    return read(password_file)


def parse_size(text: str) -> int:
    """A split size: '4G', '700M', '650MiB', '1048576' -> bytes (binary units). Raises `UsageError`."""
    from vault._bundle.parts import parse_size as parse

    return parse(text)


def keygen(prefix: str, password: bytes | None = None) -> tuple[Path, Path]:
    """Write PREFIX.pem (private, 0600, encrypted if `password`) and PREFIX.pub.pem; never overwrites."""
    from vault._signing.keys import write_key_pair

    return write_key_pair(prefix, password)


def open_vault(
    home: Path | str | None = None, *, create: bool = True, readonly: bool | None = False
) -> Vault:
    """`Vault.open`, taking the home as a string too."""
    return Vault.open(Path(home) if home is not None else None, create=create, readonly=readonly)


__all__ = ["Vault", "keygen", "open_vault", "resolve"]


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


def check_model(
    source: Path | str,
    *,
    policy: Path,
    policy_key: Path,
    into: Path | None = None,
    ca_file: Path | None = None,
    plain_http: bool = False,
    auth_file: Path | None = None,
    content_policy: ContentPolicy | None = None,
    expect: str | None = None,
    timeout: float | None = None,
) -> NodeCheck:
    """Verify a model directory (its files and the signed set in `.vault/`) or a registry reference
    (`oci://…`) against a policy file from `Vault.trust_export`, with no vault home: what an
    inference node runs before it serves. `policy_key` is the pinned public key that signed the
    policy. For a reference, the files are downloaded and checked in a private folder, then moved
    into `into` (an empty directory) with the signed set; without `into` they are removed.

    Raises `TrustError` (the policy's signature, or the model's), `IntegrityError`,
    `UnsafeContentError`, `BundleFormatError`, `NetworkError`, `AccessDeniedError`, `UsageError`.
    """
    from vault._checks.policy import ContentPolicy
    from vault._ops.node_check import check_directory, check_registry, load_policy

    doc = load_policy(policy, policy_key)
    rules = content_policy or ContentPolicy()
    pinned = parse_ref(expect) if expect is not None else None
    if pinned is not None and "@" not in str(expect):
        pinned = Ref(pinned.repo_id, "")  # the model, at whatever revision the policy trusts
    if isinstance(source, str) and source.startswith("oci://"):
        from vault._oci.client import connect, time_limit
        from vault._oci.reference import parse_oci

        oci = parse_oci(source)
        client = connect(oci, ca_file, plain_http, auth_file, timeout)
        with time_limit(timeout, f"registry {oci.host}"):
            return check_registry(oci, client, doc, rules, into, pinned)
    if into is not None:
        from vault.errors import UsageError

        raise UsageError("--into is for a registry reference: a directory is checked where it is")
    return check_directory(Path(source), doc, rules, pinned)
