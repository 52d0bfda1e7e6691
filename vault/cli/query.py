"""Commands that only read: list, show, path, provenance."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vault._report_text import list_text, provenance_text, show_text
from vault.cli.options import PASSWORD_FILE, pass_settings
from vault.cli.render import Settings, Terminated, emit, emit_or_fail, human_bytes
from vault.errors import UsageError


@click.command("list")
@pass_settings
def list_(settings: Settings) -> None:
    """List catalogued revisions."""
    with settings.open(readonly=True) as v:
        rows = v.list()
    emit(settings, rows, list_text(rows))


@click.command()
@click.argument("ref")
@pass_settings
def show(settings: Settings, ref: str) -> None:
    """Show one revision: refs, files, signatures."""
    with settings.open(readonly=True) as v:
        r = v.show(ref)
    emit(settings, r, show_text(r))


@click.command()
@click.argument("ref")
@pass_settings
def path(settings: Settings, ref: str) -> None:
    """Print the revision's directory (and nothing else)."""
    from vault import resolve

    p = resolve(ref, settings.home_path, keep_connection=False)
    emit(settings, {"path": str(p)}, str(p))


@click.command()
@click.argument("ref")
@click.option(
    "--format",
    "format_",
    type=click.Choice(["text", "in-toto"]),
    default="text",
    show_default=True,
    help="in-toto: write the signed statements and an import attestation as files into --out.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for --format in-toto.",
)
@click.option(
    "--key",
    "key_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --format in-toto: sign the import attestation with this site key (import.sig).",
)
@PASSWORD_FILE
@pass_settings
def provenance(
    settings: Settings,
    ref: str,
    format_: str,
    out_dir: Path | None,
    key_path: Path | None,
    password_file: Path | None,
) -> None:
    """Where a revision came from, and the evidence for it."""
    if format_ == "text":
        if out_dir is not None or key_path is not None:
            raise UsageError("--out and --key go with --format in-toto")
        with settings.open(readonly=True) as v:
            r = v.provenance(ref)
        emit(settings, r, provenance_text(r))
        return
    if out_dir is None:
        raise UsageError("--format in-toto writes files: give --out DIR")
    from vault import read_password

    password = read_password(password_file) if key_path else None
    with settings.open(readonly=True) as v:
        e = v.export_evidence(ref, out_dir, key_path=key_path, password=password)
    signed = "signed import attestation" if e.import_signed else "import attestation (unsigned: no --key)"
    emit(settings, e, f"wrote {', '.join(e.files)} to {e.out} ({e.repo_id}@{e.commit}; {signed})")


@click.command()
@click.argument("ref")
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the ML-BOM here (default: standard output).",
)
@pass_settings
def bom(settings: Settings, ref: str, out: Path | None) -> None:
    """A CycloneDX 1.6 ML-BOM of a revision: the model, its files and hashes, licence, provenance, signers."""
    with settings.open(readonly=True) as v:
        if out is not None and str(out) == "-":  # the usual name for standard output
            out = None
        b = v.bom(ref, out=out)
    if out is None:
        click.echo(b.json)
        return
    licence = f", licence {b.license}" if b.license else ""
    data = {"repo_id": b.repo_id, "commit": b.commit, "spec_version": b.spec_version, "path": str(out),
            "components": b.components, "license": b.license}  # fmt: skip
    emit(settings, data, f"wrote {out}: CycloneDX {b.spec_version} ML-BOM of {b.repo_id}@{b.commit} "
                         f"({b.components} components{licence})")  # fmt: skip


@click.command("hf-cache")
@click.option("--rebuild", is_flag=True, help="Recreate the whole view from the catalog.")
@pass_settings
def hf_cache(settings: Settings, rebuild: bool) -> None:
    """Show (or rebuild) the Hugging Face cache view: point HF_HUB_CACHE at it."""
    with settings.open(create=False, readonly=not rebuild) as v:
        count = v.rebuild_hf_cache() if rebuild else None
        root = v.hf_cache_root
    data = {"hf_hub_cache": str(root), "rebuilt_models": count}  # null unless --rebuild
    text = f"rebuilt {count} model(s) in {root}" if rebuild else str(root)
    emit(settings, data, text)


@click.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to bind (keep it local; see docs)."
)
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port (0 picks a free one).",
)
@click.option("--quiet", is_flag=True, help="Do not log requests.")
@click.option("--idle-timeout", default=30.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds before an idle or trickling connection is dropped.")  # fmt: skip
@click.option("--no-ui", is_flag=True, help="Serve only the Hub API, not the catalog pages at /.")
@pass_settings
def serve(settings: Settings, host: str, port: int, quiet: bool, idle_timeout: float, no_ui: bool) -> None:
    """Serve verified revisions read-only over the Hub API (for HF_ENDPOINT), and the catalog pages at /."""
    with settings.open(readonly=True) as v:
        server = v.server(
            host=host, port=port, log_requests=not quiet, idle_timeout=idle_timeout, ui=not no_ui
        )
        address, bound_port = server.server_address[:2]
        bound_host = address.decode() if isinstance(address, bytes) else address
        url = f"http://{bound_host}:{bound_port}"
        scope = (
            "reachable from this host only (--host to listen elsewhere)"
            if _loopback(str(bound_host))
            else f"LISTENING ON {bound_host}: reachable from the network"
        )
        pages = "" if no_ui else f"; catalog pages at {url}/"
        emit(settings, {"url": url, "host": bound_host, "port": bound_port, "ui": not no_ui},
             f"serving {v.home} read-only at {url} (HF_ENDPOINT={url}){pages}; {scope}")  # fmt: skip
        sys.stdout.flush()
        try:
            server.serve_forever()
        except (KeyboardInterrupt, Terminated):
            pass  # the way a server is meant to stop
        finally:
            server.server_close()


def _loopback(host: str) -> bool:
    """127.0.0.0/8 and ::1 are this host only; any other address may be reached from the network."""
    import ipaddress

    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command()
@pass_settings
def audit(settings: Settings) -> None:
    """Show the audit trail and check its hash chain (exit 1 if it was tampered with)."""
    with settings.open(readonly=True) as v:
        report = v.audit_report()
    lines = [f"{e.id:>5}  {e.at}  {e.action:<14} {e.subject}" for e in report.events]
    emit_or_fail(settings, report, "\n".join(lines) or "no events", report.failure())


@click.command()
@pass_settings
def fsck(settings: Settings) -> None:
    """Check the store and views against the catalog (exit 1 on any inconsistency)."""
    with settings.open(readonly=True) as v:
        report = v.fsck()
    lines = [f"PROBLEM {p.kind}: {p.where}: {p.detail}" for p in report.problems]
    lines += [f"warning {w.kind}: {w.where}: {w.detail}" for w in report.warnings]
    state = "clean" if report.clean else "INCONSISTENT"
    lines.append(f"{state}: {report.checked.blobs} blobs, {report.checked.revisions} revisions checked")
    emit_or_fail(settings, report, "\n".join(lines), report.failure())


@click.command()
@pass_settings
def scrub(settings: Settings) -> None:
    """Re-hash every stored blob (blake3, all cores); exit 1 if any is missing or changed.

    Damage is recorded, and the revisions using it withdrawn until a re-import
    repairs them. On a home this user cannot write, scrub only reports.
    """
    with settings.open(create=False, readonly=None) as v:  # records where it may, else only reports
        report = v.scrub()
    lines = [
        f"DAMAGED {d.sha256}: {d.problem} ({', '.join(d.files) or 'unreferenced'})" for d in report.damaged
    ]
    lines += [f"withdrawn until repaired: {r}" for r in report.withdrawn]
    lines += [f"restored: {r}" for r in report.restored]
    if report.damaged and not report.recorded:
        lines.append("not recorded: this user cannot write the home (the owner's scrub records it)")
    lines.append(f"{report.checked} blobs checked, {human_bytes(report.bytes)} intact")
    emit_or_fail(settings, report, "\n".join(lines), report.failure())


@click.command()
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@pass_settings
def gc(settings: Settings, dry_run: bool) -> None:
    """Remove unreferenced blobs and the directories of revoked revisions."""
    with settings.open(create=False) as v:
        r = v.gc(dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    emit(settings, r, f"{verb} {len(r.blobs)} unreferenced blob(s) ({human_bytes(r.bytes)}) "
                      f"and {len(r.views)} revoked revision director(ies)")  # fmt: skip


COMMANDS = [list_, show, path, provenance, bom, hf_cache, serve, audit, fsck, scrub, gc]
