"""Registry commands: publish a revision into the site's OCI registry."""

from __future__ import annotations

from pathlib import Path

import click

from vault.cli.options import pass_settings, registry_options
from vault.cli.render import Settings, TerminalProgress, emit, human_bytes


@click.command()
@click.argument("ref")
@click.argument("target", metavar="oci://HOST[:PORT]/REPO[:TAG]")
@registry_options
@pass_settings
def publish(
    settings: Settings, ref: str, target: str, ca_file: Path | None, plain_http: bool, auth_file: Path | None
) -> None:
    """Push a signed revision to an OCI registry as a ModelPack artifact, signatures as referrers.

    The tag defaults to the revision's commit. Blobs the registry holds are not
    sent again, so a re-run after an interruption sends only what is missing.
    """
    with settings.open(create=False) as v:
        r = v.publish_registry(
            ref, target, ca_file=ca_file, plain_http=plain_http, auth_file=auth_file,
            progress=TerminalProgress(settings),
        )  # fmt: skip
    listed = f"; referrers listed under tag {r.referrers_tag}" if r.referrers_tag else ""
    emit(
        settings,
        r,
        f"published {r.revision} to {r.reference} ({r.digest}): "
        f"{r.uploaded_blobs} blobs sent ({human_bytes(r.uploaded_bytes)}), "
        f"{r.reused_blobs} already there ({human_bytes(r.reused_bytes)}); "
        f"{len(r.referrers)} referrers{listed}",
    )


COMMANDS = [publish]
