"""`vault trust export` and `vault check`: a node with no vault home verifies a model against the site's
signed policy file, from a directory or from the registry (a real distribution 2.8 over TLS)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, KeyPair, run, run_json, snapshot, write_tiny_model
from tests.registry import Registry, running


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with running(tmp_path_factory.mktemp("registry")) as r:
        yield r


class Node:
    """A published model, the site's policy, and a node directory `vault check --into` filled."""

    def __init__(self, tmp_path: Path, keypair: KeyPair, registry: Registry, repo: str) -> None:
        self.tmp, self.registry, self.keypair = tmp_path, registry, keypair
        self.connected, self.site = tmp_path / "connected", tmp_path / "site"
        self.model = write_tiny_model(tmp_path / "model")
        added = run_json("add", self.model, "--repo", "acme/tiny", home=self.connected)
        self.commit = str(added["commit"])  # type: ignore[index]
        run("sign", "acme/tiny", "--key", keypair.private, home=self.connected)
        run("trust", "add", "acme", "--key", keypair.public, "--scope", "acme/*", home=self.site)
        run("keygen", "-o", tmp_path / "site-key")
        self.site_key, self.site_pub = tmp_path / "site-key.pem", tmp_path / "site-key.pub.pem"
        self.ref = registry.ref(repo)
        self.env = registry.env()
        run("publish", "acme/tiny", self.ref, "--ca-file", registry.ca, home=self.connected, env=self.env)
        self.policy = tmp_path / "policy.json"
        self.export()
        self.dir = tmp_path / "node"

    def export(self) -> None:
        run("trust", "export", "-o", self.policy, "--key", self.site_key, home=self.site)

    def check(self, target: str | Path, *extra: str | Path, code: int = 0) -> str:
        res = run("check", target, "--policy", self.policy, "--policy-key", self.site_pub, "--ca-file",
                  self.registry.ca, *extra, env=self.env, code=code)  # fmt: skip
        if code:
            err = res.stderr.strip()
            assert err.startswith("vault: error: ") and "\n" not in err, err
            return err
        return res.stdout

    def pull(self) -> Path:
        assert self.check(self.ref, "--into", self.dir).startswith(f"OK: {self.ref} is acme/tiny@")
        return self.dir


def files_of(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and ".vault" not in p.relative_to(directory).parts
    }


def test_a_node_pulls_and_checks_a_model(tmp_path: Path, keypair: KeyPair, registry: Registry) -> None:
    node = Node(tmp_path, keypair, registry, "models/node:v1")
    pulled = node.pull()
    assert files_of(pulled) == files_of(node.model)
    assert (pulled / ".vault" / "vault-bundle.json").is_file()
    out = node.check(pulled)
    assert out.startswith(f"OK: {pulled} is acme/tiny@") and "signed by acme" in out


def test_check_needs_no_vault_home_and_loads_no_catalog_code(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    """Small enough for an init container: no home is read or made, and SQLAlchemy never loads."""
    node = Node(tmp_path, keypair, registry, "models/light:v1")
    node.pull()
    code = (
        "import sys, vault; from pathlib import Path; "
        f"vault.check_model(Path({str(node.dir)!r}), policy=Path({str(node.policy)!r}), "
        f"policy_key=Path({str(node.site_pub)!r})); "
        "heavy = ('sqlalchemy', 'alembic', 'huggingface_hub'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    env = {**os.environ, "VAULT_HOME": str(tmp_path / "no-home-here"), "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"
    assert not (tmp_path / "no-home-here").exists()


@pytest.mark.parametrize("damage", ["extra", "missing", "changed", "link", "grown"])
def test_a_model_directory_that_differs_from_the_signature_is_refused(
    tmp_path: Path, keypair: KeyPair, registry: Registry, damage: str
) -> None:
    node = Node(tmp_path, keypair, registry, f"models/damage-{damage}:v1")
    d = node.pull()
    if damage == "extra":
        (d / "tokenizer" / "modeling_evil.py").write_text("import os\n")
        expect = "tokenizer/modeling_evil.py: in the model directory, not in the signed statements"
    elif damage == "missing":
        (d / "config.json").unlink()
        expect = "config.json: signed, but missing from the model directory"
    elif damage == "changed":
        data = bytearray((d / "model.safetensors").read_bytes())
        data[-1] ^= 1
        (d / "model.safetensors").write_bytes(bytes(data))
        expect = "model.safetensors: sha256 mismatch"
    elif damage == "link":
        (d / "config.json").unlink()
        (d / "config.json").symlink_to(node.model / "config.json")
        expect = "config.json: not a regular file"
    else:
        with open(d / "config.json", "ab") as fh:
            fh.write(b" ")
        expect = "config.json: 34 bytes, signed size is 33"
    assert expect in node.check(d, code=1)


def test_a_policy_signed_by_another_key_is_refused(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    node = Node(tmp_path, keypair, registry, "models/otherkey:v1")
    d = node.pull()
    run("keygen", "-o", tmp_path / "impostor")
    run("trust", "export", "-o", node.policy, "--key", tmp_path / "impostor.pem", home=node.site)
    assert "not signed by any trusted key" in node.check(d, code=1)


def test_an_edited_policy_is_refused(tmp_path: Path, keypair: KeyPair, registry: Registry) -> None:
    """Widening a scope in the file breaks the site key's signature over it."""
    node = Node(tmp_path, keypair, registry, "models/edited:v1")
    d = node.pull()
    doc = json.loads(node.policy.read_bytes())
    payload = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    payload["predicate"]["entries"][0]["scopes"] = ["*"]
    doc["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    node.policy.write_text(json.dumps(doc))
    assert "signature does not verify" in node.check(d, code=1)


def test_a_signer_the_policy_does_not_trust_is_refused(
    tmp_path: Path, keypair: KeyPair, registry: Registry, make_keypair: object
) -> None:
    node = Node(tmp_path, keypair, registry, "models/stranger:v1")
    d = node.pull()
    other = make_keypair("other")  # type: ignore[operator]
    site = tmp_path / "other-site"
    run("trust", "add", "other", "--key", other.public, "--scope", "acme/*", home=site)
    run("trust", "export", "-o", node.policy, "--key", node.site_key, home=site)
    assert "model.sig: not signed by any trusted key" in node.check(d, code=1)
    # And from the registry: refused before a file is written.
    assert "model.sig: not signed by any trusted key" in node.check(
        node.ref, "--into", tmp_path / "n2", code=1
    )
    assert not (tmp_path / "n2").exists() or not any((tmp_path / "n2").iterdir())


def test_a_quorum_in_the_policy_holds_on_the_node(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    node = Node(tmp_path, keypair, registry, "models/quorum:v1")
    d = node.pull()
    run("trust", "quorum", "acme/*", "2", home=node.site)
    node.export()
    assert "needs signatures from 2 distinct trusted signers (quorum for 'acme/*'), has 1" in node.check(
        d, code=1
    )


def test_a_revoked_revision_is_refused_on_the_node(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    node = Node(tmp_path, keypair, registry, "models/revoked:v1")
    d = node.pull()
    bundle = tmp_path / "b.vault"
    run("bundle", "acme/tiny", "-o", bundle, home=node.connected)
    run("import", bundle, home=node.site)
    run("revoke", "acme/tiny", "--reason", "poisoned", "--key", keypair.private, home=node.connected)
    run("bundle", "-o", tmp_path / "revocation.vault", home=node.connected)
    run("import", tmp_path / "revocation.vault", home=node.site)
    node.export()
    assert json.loads(base64.b64decode(json.loads(node.policy.read_bytes())["dsseEnvelope"]["payload"]))[
        "predicate"
    ]["revoked"], "the export carries the revoked revision"
    assert f"acme/tiny@{node.commit}: revoked; it must not be served" in node.check(d, code=1)


def test_into_a_directory_that_is_not_empty_is_a_usage_error(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    node = Node(tmp_path, keypair, registry, "models/notempty:v1")
    node.dir.mkdir()
    (node.dir / "keep.txt").write_text("mine")
    before = snapshot(node.dir)
    assert "not empty" in node.check(node.ref, "--into", node.dir, code=2)
    assert snapshot(node.dir) == before


def test_a_flipped_byte_in_the_registry_leaves_the_node_directory_empty(
    tmp_path: Path, keypair: KeyPair
) -> None:
    with running(tmp_path / "own-registry") as r:
        node = Node(tmp_path, keypair, r, "models/flip:v1")
        import hashlib

        blob = r.blob_data(
            "sha256:" + hashlib.sha256((node.model / "model.safetensors").read_bytes()).hexdigest()
        )
        data = bytearray(blob.read_bytes())
        data[100] ^= 1
        blob.write_bytes(bytes(data))
        node.dir.mkdir()
        assert "model.safetensors: sha256 mismatch" in node.check(node.ref, "--into", node.dir, code=1)
        assert list(node.dir.iterdir()) == []
