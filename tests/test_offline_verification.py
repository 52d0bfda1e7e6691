"""Verification never opens a socket: every socket connection fails while vault checks signatures.

An air-gapped site has no network, so a verifier that reaches out (a TUF
refresh, an OCSP or CRL fetch, a Rekor lookup) would fail there, or worse,
be steered by whoever answers. These run the real checks with
`socket.connect` made to fail, and assert no connection was even attempted.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.conftest import Transfer, run, run_json
from tests.pki import make_pki
from tests.test_upstream_signature import REPO, _sigstore_folder, _sigstore_home


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network is unreachable (blocked by the test)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: refuse(None, address))  # type: ignore[arg-type]
    return attempts


def test_sigstore_signature_verifies_with_no_network(
    testdata: Path, tmp_path: Path, no_network: list[object]
) -> None:
    home = _sigstore_home(tmp_path, testdata)
    folder = _sigstore_folder(testdata, tmp_path)
    run("add", folder, "--repo", REPO, "--signature", folder / "model.sig", home=home)
    upstream = next(s for s in run_json("show", REPO, home=home)["signatures"] if s["kind"] == "upstream")
    assert upstream["method"] == "sigstore" and upstream["verified"]
    assert no_network == []


def test_key_and_certificate_bundles_import_with_no_network(
    tmp_path: Path, transfer: Transfer, tiny_model: Path, no_network: list[object]
) -> None:
    run("verify", transfer.bundle, home=transfer.airgapped)
    run("import", transfer.bundle, home=transfer.airgapped)

    pki = make_pki(tmp_path / "pki")
    connected, gap = tmp_path / "pki-connected", tmp_path / "pki-gap"
    run("add", tiny_model, "--repo", "acme/cert", home=connected)
    run("sign", "acme/cert", "--key", pki.key, "--cert", pki.leaf, "--chain", pki.chain, home=connected)
    run("bundle", "acme/cert", "-o", tmp_path / "cert.vault", home=connected)
    run("trust", "add", "corp", "--ca", pki.root, "--scope", "acme/*", home=gap)
    run("import", tmp_path / "cert.vault", home=gap)
    assert run_json("show", "acme/cert", home=gap)["status"] == "available"
    assert no_network == []


def test_the_block_is_real(no_network: list[object]) -> None:
    """The guard itself: a connection attempt is refused and recorded."""
    with pytest.raises(OSError, match="blocked by the test"):
        socket.create_connection(("127.0.0.1", 9))
    assert no_network == [("127.0.0.1", 9)]
