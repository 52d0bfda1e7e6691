"""Air-gapped-side commands: trust, verify, import."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from vault import ContentPolicy
from vault.cli.options import (
    ALLOW_CODE,
    ALLOW_PICKLE,
    ALLOW_UNKNOWN,
    pass_settings,
    registry_options,
    site_key_options,
)
from vault.cli.render import Settings, TerminalProgress, emit, human_bytes
from vault.errors import TRUST_FIRST, NotFoundError

if TYPE_CHECKING:
    from vault import TrustEntry, Vault


@click.group()
def trust() -> None:
    """Manage the keys this vault trusts, and for which repositories."""


@trust.command("add")
@click.argument("name")
@click.option("--key", "key_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PEM public key (P-256, P-384 or P-521).")  # fmt: skip
@click.option("--ca", "ca_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CA certificate(s), PEM: certificate signatures whose chain leads here.")  # fmt: skip
@click.option("--identity", help="Sigstore: the signer's certificate identity (e-mail or workflow URI).")
@click.option("--issuer", help="Sigstore: the OIDC issuer that vouched for --identity.")
@click.option("--trusted-root", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Sigstore: trusted_root.json to verify against, offline.")  # fmt: skip
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="Repository glob this signer may sign for, e.g. 'meta-llama/*'. Repeatable.",
)
@click.option("--expires", help="Stop trusting the signer at this date/time (UTC), e.g. 2027-06-30.")
@click.option("--each-identity-counts", is_flag=True,
              help="--ca only: in a quorum, each leaf key under this CA counts as its own signer "
              "(by default the CA is one signer, however many leaves sign).")  # fmt: skip
@pass_settings
def trust_add(
    settings: Settings,
    name: str,
    key_path: Path | None,
    ca_path: Path | None,
    identity: str | None,
    issuer: str | None,
    trusted_root: Path | None,
    scopes: tuple[str, ...],
    expires: str | None,
    each_identity_counts: bool,
) -> None:
    """Trust a public key, a CA, or a Sigstore identity, for repositories matching --scope."""
    sigstore = None
    if identity or issuer or trusted_root:
        if not (identity and issuer and trusted_root):
            raise click.UsageError("--identity, --issuer and --trusted-root go together")
        sigstore = (identity, issuer, trusted_root)
    with settings.open() as v:
        e = v.trust_add(
            name,
            scopes=list(scopes),
            key_path=key_path,
            ca_path=ca_path,
            sigstore=sigstore,
            expires_at=expires,
            each_identity_counts=each_identity_counts,
        )
    until = f" until {e.expires_at}" if e.expires_at else ""
    who = {
        "key": f"key {e.fingerprint[:16]}…",
        "ca": f"CA {e.fingerprint[:16]}…",
        "sigstore": f"Sigstore identity {e.identity} via {e.issuer}",
    }[e.kind]
    (data,) = _entries_data([e])
    emit(settings, data, f"trusted {e.name} ({who}) for {' '.join(e.scopes)}{until}")


def _entries_data(entries: list[TrustEntry]) -> list[dict[str, object]]:
    """The entries as --json shows them; each pinned root's warnings also go to stderr, once.

    On stderr so that stdout stays one JSON document (where `warnings` carries them).
    """
    now = datetime.now(UTC)
    data: list[dict[str, object]] = []
    for e in entries:
        warnings = e.trusted_root_warnings(now)
        for warning in warnings:
            click.echo(f"vault: warning: {e.name}: {warning}", err=True)
        data.append({"name": e.name, "kind": e.kind, "key": e.fingerprint, "identity": e.identity,
                     "issuer": e.issuer, "scopes": list(e.scopes), "expires_at": e.expires_at,
                     "trusted_root_sha256": e.trusted_root_sha256, "warnings": warnings,
                     "quorum_counts": _quorum_counts(e)})  # fmt: skip
    return data


def _quorum_counts(e: TrustEntry) -> str:
    """How the entry counts toward a quorum, as `trust list` says it."""
    return "each identity" if e.each_identity_counts else "once"


@trust.command("quorum")
@click.argument("scope")
@click.argument("required", type=click.IntRange(min=1))
@pass_settings
def trust_quorum(settings: Settings, scope: str, required: int) -> None:
    """Require signatures from REQUIRED distinct trusted signers for repos matching SCOPE.

    Both the model and the provenance statement must meet it. A trust entry
    counts once (a CA once, however many leaves sign), unless it was added with
    --each-identity-counts.
    """
    with settings.open() as v:
        v.trust_quorum(scope, required)
    text = f"{scope}: quorum removed" if required == 1 else f"{scope}: {required} distinct signers required"
    emit(settings, {"scope": scope, "required": required}, text)


@trust.command("list")
@pass_settings
def trust_list(settings: Settings) -> None:
    """List trusted keys and Sigstore identities, and quorum rules."""
    with settings.open(readonly=True) as v:  # like `list`: a missing home is "no vault here", exit 3
        entries, quorums = v.trust_list(), v.trust_quorums()
    data = {"keys": _entries_data(entries), "quorums": quorums}
    lines = [
        f"{e.name}\t{e.fingerprint if e.kind == 'key' else f'sigstore:{e.identity} via {e.issuer}'}"
        f"\t{' '.join(e.scopes)}"
        + (f"\texpires {e.expires_at}" if e.expires_at else "")
        + (f"\tquorum: counts {_quorum_counts(e)}" if e.kind == "ca" else "")
        for e in entries
    ]
    lines += [f"quorum\t{scope}\t{n} signers (each trust entry counts once)" for scope, n in quorums.items()]
    emit(settings, data, "\n".join(lines) or "no trusted keys")


@trust.command("replace-root")
@click.argument("name")
@click.option("--trusted-root", "root_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The new trusted_root.json, checked out of band (its sha256 is audited).")  # fmt: skip
@pass_settings
def trust_replace_root(settings: Settings, name: str, root_path: Path) -> None:
    """Pin another Sigstore trusted root for NAME (after the signer's Sigstore rotated its keys). Audited."""
    with settings.open() as v:
        r = v.trust_replace_root(name, root_path)
        (entry,) = [e for e in v.trust_list() if e.name == name]
    _entries_data([entry])  # the new root's expiry warnings, on stderr
    text = (
        f"{name}: pinned trusted root {r.new_sha256} (was {r.old_sha256})"
        if r.changed
        else f"{name}: trusted root {r.new_sha256} is already pinned; nothing changed"
    )
    emit(settings, r, text)


@trust.command("export")
@site_key_options(
    "policy", "The site key that signs the policy; nodes pin its public half (vault check --policy-key)."
)
@pass_settings
def trust_export(
    settings: Settings,
    out: Path,
    key_path: Path,
    password_file: Path | None,
    cert_path: Path | None,
    chain_path: Path | None,
) -> None:
    """Write the trust policy as one signed file, for 'vault check' on nodes without a vault home."""
    from vault import read_password

    with settings.open(create=False) as v:
        r = v.trust_export(
            out, key_path=key_path, password=read_password(password_file), cert_path=cert_path,
            chain_path=chain_path,
        )  # fmt: skip
    emit(settings, r, f"wrote {r.policy}: {r.entries} trust entries, {r.quorums} quorum rules, "
                      f"{r.revoked} revoked revisions; signed with {r.signer}")  # fmt: skip


@trust.command("remove")
@click.argument("name")
@pass_settings
def trust_remove(settings: Settings, name: str) -> None:
    """Stop trusting a key or identity."""
    with settings.open() as v:
        v.trust_remove(name)
    emit(settings, {"removed": name}, f"removed {name}")


@click.command()
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@ALLOW_PICKLE
@ALLOW_UNKNOWN
@ALLOW_CODE
@pass_settings
def verify(
    settings: Settings, bundle: Path, allow_pickle: bool, allow_unknown: bool, allow_code: tuple[str, ...]
) -> None:
    """Check a bundle completely; write nothing."""
    with settings.open(readonly=True) as v:
        policy = ContentPolicy(
            allow_pickle=allow_pickle, allow_unknown=allow_unknown, allow_code=frozenset(allow_code)
        )
        r = v.verify_bundle(bundle, policy=policy, progress=TerminalProgress(settings))
    emit(
        settings,
        r,
        f"OK: {', '.join(r.revisions)} ({r.blobs} blobs, {human_bytes(r.bytes)}; "
        f"signed by {', '.join(r.signers)})" + "".join(f"\nnote: {n}" for n in r.notes),
    )


def _importing_home(settings: Settings) -> Vault:
    """The home to import into; a missing one gets the first step, not only "no vault here"."""
    try:
        return settings.open(create=False)
    except NotFoundError as exc:
        raise NotFoundError(f"{exc}; to import, {TRUST_FIRST}") from None


@click.command("import")
@click.argument("bundle", metavar="BUNDLE|oci://HOST[:PORT]/REPO[:TAG]", type=click.Path(dir_okay=False))
@ALLOW_PICKLE
@click.option(
    "--allow-downgrade",
    is_flag=True,
    help="Let refs move to a revision older than the one they hold (rollback). Audited.",
)
@ALLOW_UNKNOWN
@ALLOW_CODE
@registry_options
@pass_settings
def import_(
    settings: Settings,
    bundle: str,
    allow_pickle: bool,
    allow_downgrade: bool,
    allow_unknown: bool,
    allow_code: tuple[str, ...],
    ca_file: Path | None,
    plain_http: bool,
    auth_file: Path | None,
) -> None:
    """Verify a bundle, or a revision `vault publish` put in a registry, then store and catalog it
    atomically. A registry is trusted no more than a medium: the same checks run."""
    with _importing_home(settings) as v:
        policy = ContentPolicy(
            allow_pickle=allow_pickle,
            allow_downgrade=allow_downgrade,
            allow_unknown=allow_unknown,
            allow_code=frozenset(allow_code),
        )
        progress = TerminalProgress(settings)
        if bundle.startswith("oci://"):  # the registry scheme; the API checks the rest of the grammar
            r = v.import_registry(
                bundle, ca_file=ca_file, plain_http=plain_http, auth_file=auth_file,
                policy=policy, progress=progress,
            )  # fmt: skip
        else:
            r = v.import_bundle(Path(bundle), policy=policy, progress=progress)
    lines = {
        "imported": f"imported {', '.join(r.revisions)} ({r.blobs} blobs, {human_bytes(r.bytes)}"
        + (f"; {r.resumed} of them verified by an interrupted run" if r.resumed else "")
        + (f"; {r.reused} more already held here)" if r.reused else ")"),
        "repaired": f"repaired {len(r.repaired)} damaged blob(s) from the bundle",
        "revocations-applied": "",
        "refs-moved": "",
        "already-imported": f"already imported: {', '.join(r.already_present)}; nothing to do",
    }
    text = [lines[r.status]] if lines[r.status] else []
    if r.status != "repaired" and r.repaired:
        text.append(f"repaired {len(r.repaired)} damaged blob(s) from the bundle")
    text += [f"revoked {revision}: it no longer resolves" for revision in r.revoked]
    text += [f"moved {ref} to this bundle's revision" for ref in r.refs_moved if r.status != "imported"]
    text += [
        f"note: {kept} kept at a newer revision (--allow-downgrade moves it back)" for kept in r.refs_kept
    ]
    text += [f"note: {n}" for n in r.notes]
    emit(settings, r, "\n".join(text))


@click.group()
def ref() -> None:
    """Move refs by hand (e.g. roll main back after the fact)."""


@ref.command("set")
@click.argument("ref_", metavar="REF")
@click.argument("commit")
@click.option("--allow-downgrade", is_flag=True, help="Allow pointing the ref at an older fetch. Audited.")
@pass_settings
def ref_set(settings: Settings, ref_: str, commit: str, allow_downgrade: bool) -> None:
    """Point REF (org/name@ref) at COMMIT, a revision this vault holds."""
    with settings.open(create=False) as v:
        m = v.set_ref(ref_, commit, allow_downgrade=allow_downgrade)
    was = f" (was {m.old_commit})" if m.old_commit and m.old_commit != m.new_commit else ""
    emit(
        settings,
        m,
        f"{m.repo_id}@{m.ref} -> {m.new_commit}{was}" + (" [downgrade]" if m.downgrade else ""),
    )


@click.command()
@site_key_options(
    "receipt", "This site's PEM EC private key; the connected side trusts its public half for @receipts."
)
@pass_settings
def inventory(
    settings: Settings,
    out: Path,
    key_path: Path,
    password_file: Path | None,
    cert_path: Path | None,
    chain_path: Path | None,
) -> None:
    """Sign a receipt of the blobs and revisions this vault holds, for 'vault bundle --have'."""
    from vault import read_password

    with settings.open(create=False) as v:
        r = v.inventory(
            out,
            key_path=key_path,
            password=read_password(password_file),
            cert_path=cert_path,
            chain_path=chain_path,
        )
    emit(
        settings, r, f"wrote {r.receipt}: {r.revisions} revision(s), {r.blobs} blobs, signed with {r.signer}"
    )


COMMANDS = [trust, verify, import_, ref, inventory]
