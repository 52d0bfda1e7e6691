"""Registry commands: publish a revision into the site's OCI registry."""

from __future__ import annotations

from pathlib import Path

import click

from vault.cli.options import ALLOW_CODE, ALLOW_PICKLE, ALLOW_UNKNOWN, pass_settings, registry_options
from vault.cli.render import Settings, TerminalProgress, emit, human_bytes


@click.command()
@click.argument("ref")
@click.argument("target", metavar="oci://HOST[:PORT]/REPO[:TAG]")
@click.option("--modelcar", is_flag=True, help="Also push a KServe modelcar image (tag TAG-modelcar).")
@click.option("--base", metavar="oci://HOST[:PORT]/REPO[:TAG]",
              help="--modelcar: the base image, in the same registry (e.g. busybox).")  # fmt: skip
@registry_options
@pass_settings
def publish(
    settings: Settings,
    ref: str,
    target: str,
    modelcar: bool,
    base: str | None,
    ca_file: Path | None,
    plain_http: bool,
    auth_file: Path | None,
) -> None:
    """Push a signed revision to an OCI registry as a ModelPack artifact, signatures as referrers.

    The tag defaults to the revision's commit. Blobs the registry holds are not
    sent again, so a re-run after an interruption sends only what is missing.
    """
    if modelcar != (base is not None):
        raise click.UsageError("--modelcar and --base go together")
    with settings.open(create=False) as v:
        r = v.publish_registry(
            ref, target, ca_file=ca_file, plain_http=plain_http, auth_file=auth_file,
            progress=TerminalProgress(settings), modelcar_base=base,
        )  # fmt: skip
    listed = f"; referrers listed under tag {r.referrers_tag}" if r.referrers_tag else ""
    listed += f"\nmodelcar {r.modelcar} ({r.modelcar_digest})" if r.modelcar else ""
    emit(
        settings,
        r,
        f"published {r.revision} to {r.reference} ({r.digest}): "
        f"{r.uploaded_blobs} blobs sent ({human_bytes(r.uploaded_bytes)}), "
        f"{r.reused_blobs} already there ({human_bytes(r.reused_bytes)}); "
        f"{len(r.referrers)} referrers{listed}",
    )


@click.command()
@click.argument("model", metavar="DIR|oci://HOST[:PORT]/REPO[:TAG]")
@click.option("--policy", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The signed policy file 'vault trust export' wrote.")  # fmt: skip
@click.option("--policy-key", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The public key that signed the policy (pinned on the node, not in it).")  # fmt: skip
@click.option("--expect", metavar="ORG/NAME[@REV]",
              help="The model this node serves: refuse any other, whatever a tag points at.")  # fmt: skip
@click.option("--timeout", type=click.FloatRange(min=1), metavar="SECONDS",
              help="oci:// only: give up when the whole check takes longer.")  # fmt: skip
@click.option("--into", type=click.Path(file_okay=False, path_type=Path),
              help="oci:// only: the empty directory the verified files and signed set go into.")  # fmt: skip
@ALLOW_PICKLE
@ALLOW_UNKNOWN
@ALLOW_CODE
@registry_options
@pass_settings
def check(
    settings: Settings,
    model: str,
    policy: Path,
    policy_key: Path,
    expect: str | None,
    timeout: float | None,
    into: Path | None,
    allow_pickle: bool,
    allow_unknown: bool,
    allow_code: tuple[str, ...],
    ca_file: Path | None,
    plain_http: bool,
    auth_file: Path | None,
) -> None:
    """Verify a model directory or registry reference against a signed policy file, with no vault
    home: exit 0 when every file is what a trusted signer signed, 1 with one line when not."""
    from vault import ContentPolicy, check_model

    rules = ContentPolicy(allow_pickle, allow_unknown=allow_unknown, allow_code=frozenset(allow_code))
    r = check_model(
        model, policy=policy, policy_key=policy_key, into=into, ca_file=ca_file, plain_http=plain_http,
        auth_file=auth_file, content_policy=rules, expect=expect, timeout=timeout,
    )  # fmt: skip
    where = f"; written to {r.written_to}" if r.written_to else ""
    emit(settings, r, f"OK: {r.source} is {r.revision} ({r.files} files, {human_bytes(r.bytes)}; "
                      f"signed by {', '.join(r.signers)}){where}")  # fmt: skip


COMMANDS = [publish, check]
