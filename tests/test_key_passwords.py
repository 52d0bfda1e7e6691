"""Signing keys with a passphrase: from a file or VAULT_KEY_PASSWORD, never from the command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import run, run_json, snapshot


def test_encrypted_key_signs_only_with_its_passphrase(tmp_path: Path, tiny_model: Path) -> None:
    secret = tmp_path / "pass.txt"
    secret.write_text("correct horse battery staple\n")
    run("keygen", "-o", tmp_path / "k", "--password-file", secret)
    key = tmp_path / "k.pem"
    assert b"ENCRYPTED PRIVATE KEY" in key.read_bytes()
    home = tmp_path / "connected"
    run("add", tiny_model, "--repo", "acme/tiny", home=home)

    before = snapshot(home)
    res = run("sign", "acme/tiny", "--key", key, home=home, code=2)
    assert res.stderr.strip() == (
        f"vault: error: {key}: the key is encrypted: give --password-file or set VAULT_KEY_PASSWORD"
    )
    res = run("sign", "acme/tiny", "--key", key, home=home, code=2, env={"VAULT_KEY_PASSWORD": "wrong"})
    assert "wrong password" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert snapshot(home) == before

    run("sign", "acme/tiny", "--key", key, "--password-file", secret, home=home)
    run(
        "sign",
        "acme/tiny",
        "--key",
        key,
        home=home,
        env={"VAULT_KEY_PASSWORD": "correct horse battery staple"},
    )
    run("bundle", "acme/tiny", "-o", tmp_path / "b.vault", home=home)
    gap = tmp_path / "gap"
    run("trust", "add", "acme", "--key", tmp_path / "k.pub.pem", "--scope", "acme/*", home=gap)
    assert run_json("import", tmp_path / "b.vault", home=gap)["status"] == "imported"
    out = run_json(
        "revoke", "acme/tiny", "--reason", "test", "--key", key, "--password-file", secret, home=home
    )
    assert out["reason"] == "test"


def test_openssl_encrypted_key_works(tmp_path: Path, tiny_model: Path) -> None:
    """The traditional `Proc-Type: 4,ENCRYPTED` PEM that `openssl ec -aes256` writes."""
    plain, enc = tmp_path / "plain.pem", tmp_path / "enc.pem"
    subprocess.run(
        ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", plain], check=True
    )
    subprocess.run(["openssl", "ec", "-in", plain, "-aes256", "-passout", "pass:s3cret", "-out", enc],
                   check=True, capture_output=True)  # fmt: skip
    assert b"Proc-Type: 4,ENCRYPTED" in enc.read_bytes()
    home = tmp_path / "h"
    run("add", tiny_model, "--repo", "acme/tiny", home=home)
    assert "encrypted" in run("sign", "acme/tiny", "--key", enc, home=home, code=2).stderr
    out = run_json("sign", "acme/tiny", "--key", enc, home=home, env={"VAULT_KEY_PASSWORD": "s3cret"})
    assert out["commit"]
