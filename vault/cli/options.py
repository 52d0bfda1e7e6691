"""Options and decorators that several command modules share."""

from __future__ import annotations

from pathlib import Path

import click

from vault.cli.render import Settings

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

SIGNING_KEY = click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM EC private key (P-256, P-384 or P-521).",
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
