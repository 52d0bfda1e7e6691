"""Connected-side commands: add, keygen, sign, bundle."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vault import ContentPolicy, parse_size
from vault.cli.options import (
    ALLOW_CODE,
    ALLOW_PICKLE,
    ALLOW_UNKNOWN,
    CERTIFICATE,
    CHAIN,
    PASSWORD_FILE,
    SIGNING_KEY,
    pass_settings,
    registry_options,
    sigstore_options,
    sigstore_signing,
)
from vault.cli.render import Settings, TerminalProgress, emit, human_bytes
from vault.results import AddStatus


@click.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--repo", "repo_id", required=True, help="Repository id, org/name.")
@click.option("--revision", help="A 40-hex commit, or a label that becomes a ref name.")
@click.option("--ref", default="main", show_default=True, help="Ref to point at the added revision.")
@click.option(
    "--signature",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Publisher's OMS signature for the folder, verified against trusted keys.",
)
@ALLOW_PICKLE
@ALLOW_UNKNOWN
@ALLOW_CODE
@pass_settings
def add(
    settings: Settings,
    directory: Path,
    repo_id: str,
    revision: str | None,
    ref: str,
    signature: Path | None,
    allow_pickle: bool,
    allow_unknown: bool,
    allow_code: tuple[str, ...],
) -> None:
    """Take in a local model folder."""
    with settings.open() as v:
        r = v.add(
            directory,
            repo_id,
            revision=revision,
            ref=ref,
            signature=signature,
            allow_pickle=allow_pickle,
            progress=TerminalProgress(settings),
            allow_unknown=allow_unknown,
            allow_code=allow_code,
        )
    verb = "added" if r.status == AddStatus.ADDED else "already present, nothing added"
    emit(settings, r, f"{r.repo_id}@{r.commit}: {verb} ({r.files} files; refs {', '.join(r.refs)})")


@click.command()
@click.argument("repo_id", metavar="REPO_ID|oci://HOST[:PORT]/REPO[:TAG]")
@click.option("--revision", default="main", show_default=True, help="Branch, tag or 40-hex commit.")
@click.option("--include", multiple=True, help="Only files matching this glob (repeatable).")
@click.option("--exclude", multiple=True, help="Skip files matching this glob (repeatable).")
@click.option("--endpoint", envvar="HF_ENDPOINT", help="Hub or mirror URL (default: HF_ENDPOINT or the Hub).")
@click.option("--token", help="Access token for gated or private repos (default: HF_TOKEN). Never stored.")
@ALLOW_PICKLE
@ALLOW_UNKNOWN
@ALLOW_CODE
@registry_options
@pass_settings
def pull(
    settings: Settings,
    repo_id: str,
    revision: str,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    endpoint: str | None,
    token: str | None,
    allow_pickle: bool,
    allow_unknown: bool,
    allow_code: tuple[str, ...],
    ca_file: Path | None,
    plain_http: bool,
    auth_file: Path | None,
) -> None:
    """Pull a model from the Hugging Face Hub, pinned to one commit and checked file by file; or a
    signed revision a publisher put in an OCI registry, verified under this vault's trust policy."""
    if repo_id.startswith("oci://"):  # the registry scheme; the API checks the rest of the grammar
        if include or exclude or token or revision != "main":
            raise click.UsageError(
                "--revision, --include, --exclude and --token are for the Hub, not a registry"
            )
        with settings.open() as v:
            policy = ContentPolicy(
                allow_pickle, allow_unknown=allow_unknown, allow_code=frozenset(allow_code)
            )
            got = v.import_registry(
                repo_id, ca_file=ca_file, plain_http=plain_http, auth_file=auth_file, policy=policy,
                progress=TerminalProgress(settings),
            )  # fmt: skip
        done = f"pulled {', '.join(got.revisions)}" if got.revisions else "already held; nothing to do"
        emit(
            settings,
            got,
            f"{done} ({got.blobs} blobs, {human_bytes(got.bytes)}; verified under the trust policy)",
        )
        return
    progress = not settings.as_json and sys.stderr.isatty()
    with settings.open() as v:
        r = v.pull(
            repo_id,
            revision=revision,
            include=include,
            exclude=exclude,
            endpoint=endpoint,
            token=token,
            progress=progress,
            allow_pickle=allow_pickle,
            allow_unknown=allow_unknown,
            allow_code=allow_code,
        )
    refs = f"; refs {', '.join(r.refs)}" if r.refs else ""
    if r.status == AddStatus.ADDED:
        size = human_bytes(r.bytes)
        text = f"{r.repo_id}@{r.commit}: pulled {r.files} files, {size}, all match the Hub{refs}"
    else:
        text = f"{r.repo_id}@{r.commit}: already present, nothing downloaded{refs}"
    emit(settings, r, text)


@click.command()
@click.option(
    "-o",
    "--out",
    "prefix",
    default="vault-signing-key",
    show_default=True,
    help="Writes PREFIX.pem (private, mode 0600) and PREFIX.pub.pem.",
)
@PASSWORD_FILE
@pass_settings
def keygen(settings: Settings, prefix: str, password_file: Path | None) -> None:
    """Write a new ECDSA P-256 key pair (the private key encrypted if a passphrase is given)."""
    from vault import read_password
    from vault.api import keygen as write_keys

    private, public = write_keys(prefix, read_password(password_file))
    emit(
        settings,
        {"private_key": str(private), "public_key": str(public)},
        f"wrote {private} (keep it secret) and {public} (give it to 'vault trust add')",
    )


@click.command()
@click.argument("ref")
@SIGNING_KEY
@PASSWORD_FILE
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write model.sig and provenance.sig into this directory.",
)
@CERTIFICATE
@CHAIN
@sigstore_options
@pass_settings
def sign(
    settings: Settings,
    ref: str,
    key_path: Path | None,
    password_file: Path | None,
    out_dir: Path | None,
    cert_path: Path | None,
    chain_path: Path | None,
    sigstore: bool,
    trust_config: Path | None,
    identity_token: str | None,
) -> None:
    """Sign a revision (OMS signature + signed provenance): with a key, a PKI certificate, or Sigstore."""
    from vault import read_password

    keyless = sigstore_signing(sigstore, trust_config, identity_token)
    with settings.open() as v:
        password = read_password(password_file) if key_path else None
        r = v.sign(ref, key_path=key_path, out_dir=out_dir, password=password, cert_path=cert_path,
                   chain_path=chain_path, sigstore=keyless)  # fmt: skip
    emit(settings, r, f"{r.repo_id}@{r.commit}: signed with {r.signer}")


@click.command()
@click.argument("refs", nargs=-1)
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Bundle file (or the stem of its parts when split).",
)
@click.option("--split-size", help="Cut into parts OUT.000, OUT.001, … of at most this size (e.g. 4G).")
@click.option(
    "--base",
    "base",
    multiple=True,
    metavar="REF",
    help="Leave out the blobs this earlier revision already carried across (no return channel).",
)
@click.option(
    "--have",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="RECEIPT",
    help="Leave out the blobs a signed 'vault inventory' receipt says the far side holds.",
)
@click.option(
    "--parity",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Add this many parity parts OUT.p000, …: any that many lost or damaged parts can be rebuilt.",
)
@pass_settings
def bundle(
    settings: Settings,
    refs: tuple[str, ...],
    out: Path,
    split_size: str | None,
    base: tuple[str, ...],
    have: Path | None,
    parity: int,
) -> None:
    """Write signed revisions into a bundle for transfer (a delta bundle with --base or --have)."""
    size = parse_size(split_size) if split_size else None
    with settings.open() as v:
        progress = TerminalProgress(settings)
        r = v.bundle(list(refs), out, split_size=size, progress=progress, base=base, have=have, parity=parity)
    # Name the files that exist: a split bundle is OUT.000, OUT.001, … and no file is called OUT.
    if len(r.parts) > 1 or (r.parts and Path(r.parts[0]).name != Path(r.bundle).name):
        written = f"{_files(r.parts, 'part')} in {Path(r.parts[0]).parent}"
    else:
        written = r.bundle
    written += f" (+{_files(r.parity, 'parity part')})" if r.parity else ""
    text = f"wrote {written}: {len(r.revisions)} revision(s), {r.blobs} blobs, {human_bytes(r.bytes)}"
    if r.omitted_blobs:
        text += f"; left out {r.omitted_blobs} blobs ({human_bytes(r.omitted_bytes)}) the far side holds"
    emit(settings, r, text)


def _files(paths: list[str], noun: str) -> str:
    """`1 part m.vault.000`, `5 parts m.vault.000 … m.vault.004`: the names that were written."""
    first, last = Path(paths[0]).name, Path(paths[-1]).name
    if len(paths) == 1:
        return f"1 {noun} {first}"
    return f"{len(paths)} {noun}s {first} … {last}"


@click.command()
@click.argument("ref")
@click.option("--reason", required=True, help="Why: recorded, signed, and shown wherever it is refused.")
@SIGNING_KEY
@PASSWORD_FILE
@CERTIFICATE
@CHAIN
@sigstore_options
@pass_settings
def revoke(
    settings: Settings,
    ref: str,
    reason: str,
    key_path: Path | None,
    password_file: Path | None,
    cert_path: Path | None,
    chain_path: Path | None,
    sigstore: bool,
    trust_config: Path | None,
    identity_token: str | None,
) -> None:
    """Revoke a revision: it stops resolving here, and in every vault that imports the next bundle."""
    from vault import read_password

    keyless = sigstore_signing(sigstore, trust_config, identity_token)
    with settings.open(create=False) as v:
        password = read_password(password_file) if key_path else None
        r = v.revoke(ref, reason=reason, key_path=key_path, password=password, cert_path=cert_path,
                     chain_path=chain_path, sigstore=keyless)  # fmt: skip
    emit(settings, r, f"{r.repo_id}@{r.commit}: revoked ({r.reason}); the next bundle carries it")


COMMANDS = [pull, add, keygen, sign, bundle, revoke]
