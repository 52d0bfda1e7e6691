"""`vault sign --cert`: a revision signed with an organisation's PKI, end to end and by the stock verifier."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import KeyPair, run, run_json, snapshot
from tests.pki import Pki, make_pki

REPO = "acme/tiny"


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def signed(tmp_path: Path, tiny_model: Path, pki: Pki) -> tuple[Path, Path]:
    """A connected home whose revision is signed with the PKI leaf, and its bundle."""
    home = tmp_path / "connected"
    run("add", tiny_model, "--repo", REPO, home=home)
    out = run("sign", REPO, "--key", pki.key, "--cert", pki.leaf, "--chain", pki.chain,
              "--out", tmp_path / "sig", home=home).stdout  # fmt: skip
    assert "signed with certificate leaf.pem" in out
    bundle = tmp_path / "cert.vault"
    run("bundle", REPO, "-o", bundle, home=home)
    return home, bundle


def _gap(tmp_path: Path, ca: Path, name: str = "gap") -> Path:
    home = tmp_path / name
    run("trust", "add", "corp-ca", "--ca", ca, "--scope", "acme/*", home=home)
    return home


def test_certificate_signed_round_trip_imports_under_the_trusted_ca(
    tmp_path: Path, signed: tuple[Path, Path], pki: Pki
) -> None:
    connected, bundle = signed
    sigs = run_json("show", REPO, home=connected)["signatures"]
    assert {(s["kind"], s["method"]) for s in sigs} == {
        ("model", "certificate"),
        ("provenance", "certificate"),
    }
    gap = _gap(tmp_path, pki.root)
    run("import", bundle, home=gap)
    shown = run_json("show", REPO, home=gap)
    assert {(s["kind"], s["method"], s["signer"]) for s in shown["signatures"]} == {
        ("model", "certificate", "corp-ca"), ("provenance", "certificate", "corp-ca"),
    }  # fmt: skip
    assert Path(run("path", REPO, home=gap).stdout.strip()).is_dir()


def test_a_vault_trusting_another_ca_refuses_it(tmp_path: Path, signed: tuple[Path, Path]) -> None:
    _connected, bundle = signed
    other = make_pki(tmp_path / "other-pki", name="Other")
    gap = _gap(tmp_path, other.root, "other-gap")
    before = snapshot(gap)
    err = run("import", bundle, home=gap, code=1).stderr
    assert "certificate chain does not lead to CA corp-ca" in err and err.count("\n") == 1
    assert snapshot(gap) == before


def test_a_key_only_trust_entry_does_not_admit_a_certificate_signature(
    tmp_path: Path, signed: tuple[Path, Path], keypair: KeyPair
) -> None:
    _connected, bundle = signed
    gap = tmp_path / "key-gap"
    run("trust", "add", "acme", "--key", keypair.public, "--scope", "acme/*", home=gap)
    run("import", bundle, home=gap, code=1)
    assert run("list", home=gap).stdout.strip() == "no models"


def test_stock_model_signing_accepts_the_certificate_signature(
    tmp_path: Path, signed: tuple[Path, Path], pki: Pki
) -> None:
    connected, _bundle = signed
    path = run("path", REPO, home=connected).stdout.strip()
    cli = [sys.executable, "-m", "model_signing", "verify", "certificate", "--signature",
           str(tmp_path / "sig" / "model.sig")]  # fmt: skip
    ok = subprocess.run([*cli, "--certificate_chain", str(pki.root), path], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    other = make_pki(tmp_path / "judge-other", name="Judge")
    bad = subprocess.run([*cli, "--certificate_chain", str(other.root), path], capture_output=True, text=True)
    assert bad.returncode != 0


def test_a_certificate_for_another_key_is_refused_before_signing(
    tmp_path: Path, tiny_model: Path, pki: Pki
) -> None:
    home = tmp_path / "h"
    run("add", tiny_model, "--repo", REPO, home=home)
    other = make_pki(tmp_path / "other", name="Other")
    before = snapshot(home)
    err = run("sign", REPO, "--key", other.key, "--cert", pki.leaf, home=home, code=2).stderr
    assert "leaf.pem: the certificate is not for this signing key" in err
    assert snapshot(home) == before


def test_chain_without_cert_is_a_usage_error(tmp_path: Path, tiny_model: Path, pki: Pki) -> None:
    home = tmp_path / "h"
    run("add", tiny_model, "--repo", REPO, home=home)
    assert "--chain needs --cert" in run("sign", REPO, "--key", pki.key, "--chain", pki.chain,
                                         home=home, code=2).stderr  # fmt: skip


def test_a_certificate_signed_revocation_reaches_the_air_gap(
    tmp_path: Path, signed: tuple[Path, Path], pki: Pki
) -> None:
    connected, bundle = signed
    gap = _gap(tmp_path, pki.root)
    run("import", bundle, home=gap)
    run("revoke", REPO, "--reason", "leaked", "--key", pki.key, "--cert", pki.leaf, "--chain", pki.chain,
        home=connected)  # fmt: skip
    run("bundle", "-o", tmp_path / "r.vault", home=connected)
    run("import", tmp_path / "r.vault", home=gap)
    assert "is revoked" in run("path", REPO, home=gap, code=3).stderr
    assert run_json("show", REPO, home=gap)["revocations"][0]["signer"] == "corp-ca"
