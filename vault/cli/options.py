"""Options and decorators that several command modules share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from vault.cli.render import Settings

if TYPE_CHECKING:
    from vault import SigstoreSigning

pass_settings = click.make_pass_decorator(Settings)

ALLOW_PICKLE = click.option(
    "--allow-pickle",
    is_flag=True,
    help="Admit content that unpickles on load (torch checkpoints, pickles, object arrays) "
    "after an allow-list scan. Audited.",
)
ALLOW_UNKNOWN = click.option(
    "--allow-unknown-format",
    "allow_unknown",
    is_flag=True,
    help="Admit binary files of no format vault can check (refused by default). Audited.",
)

ALLOW_CODE = click.option(
    "--allow-code",
    "allow_code",
    multiple=True,
    metavar="PATH",
    help="Admit this file, which runs code when loaded (an auto_map module, a handler.py, a Hydra "
    "YAML), by its path in the revision; repeat for each file. Audited, and shown as 'runs code'.",
)

SIGNING_KEY = click.option(
    "--key",
    "key_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM EC private key (P-256, P-384 or P-521). Give this or --sigstore.",
)
PASSWORD_FILE = click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File whose first line is the key's passphrase (default: VAULT_KEY_PASSWORD, else none).",
)
CERTIFICATE = click.option(
    "--cert",
    "cert_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM leaf certificate for --key: sign in the OMS certificate layout (PKI).",
)
CHAIN = click.option(
    "--chain",
    "chain_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM intermediates to carry after the leaf (with --cert).",
)


def sigstore_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--sigstore with how to reach Sigstore and who signs; `sigstore_signing` turns them into one value."""
    for option in reversed((
        click.option("--sigstore", is_flag=True,
                     help="Sign keyless as a Sigstore identity (a CI job's OIDC credentials, or a browser "
                          "sign-in), instead of --key."),
        click.option("--trust-config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="With --sigstore: the ClientTrustConfig JSON of a private Sigstore deployment "
                          "(default: the public instance)."),
        click.option("--identity-token", envvar="SIGSTORE_IDENTITY_TOKEN", show_envvar=True,
                     help="With --sigstore: an OIDC identity token (default: the CI's ambient credentials, "
                          "else a browser sign-in on a terminal)."),
    )):  # fmt: skip
        f = option(f)
    return f


def sigstore_signing(
    flag: bool, trust_config: Path | None, identity_token: str | None
) -> SigstoreSigning | None:
    if not flag:
        if trust_config is not None:
            raise click.UsageError("--trust-config is for --sigstore")
        return None
    from vault import SigstoreSigning

    return SigstoreSigning(trust_config, identity_token)


def registry_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """How to reach an OCI registry: its CA, plain HTTP, and the credentials file (never a password)."""
    f = click.option(
        "--authfile",
        "auth_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Registry credentials file (default: REGISTRY_AUTH_FILE, else ~/.docker/config.json).",
    )(f)
    f = click.option(
        "--plain-http",
        is_flag=True,
        help="Speak HTTP, not HTTPS, to the registry (credentials and bytes travel in clear).",
    )(f)
    return click.option(
        "--ca-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="PEM CA certificate(s) the registry's TLS certificate must chain to (the site's CA).",
    )(f)


def site_key_options(what: str, key_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`-o FILE` for a signed file the site writes (`what`), and the site key that signs it
    (with its passphrase, certificate and chain): receipts and the trust policy."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed([
            click.option("-o", "--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
                         help=f"Where to write the signed {what} (JSON)."),
            click.option("--key", "key_path", required=True,
                         type=click.Path(exists=True, dir_okay=False, path_type=Path), help=key_help),
            PASSWORD_FILE, CERTIFICATE, CHAIN,
        ]):  # fmt: skip
            f = option(f)
        return f

    return decorate
