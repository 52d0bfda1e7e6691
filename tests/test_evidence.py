"""Evidence that stands on its own: a CycloneDX ML-BOM and the signed statements, checked by outside tools.

The ML-BOM is validated here with cyclonedx-python-lib's own strict schema
validator (not only inside vault), and the exported OMS signature is checked
by the stock `model_signing verify key` against what `vault path` serves.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from tests.conftest import MINILM_COMMIT, MINILM_REPO, MINILM_SHA256, run, run_json


@pytest.fixture
def homes(minilm_airgapped: Path) -> tuple[Path, Path, Path]:
    """The real model carried into an air-gapped vault (read here, never changed), and its signer's keys."""
    return minilm_airgapped, minilm_airgapped.parent / "k.pem", minilm_airgapped.parent / "k.pub.pem"


def test_the_ml_bom_validates_and_lists_every_file(tmp_path: Path, homes: tuple[Path, Path, Path]) -> None:
    gap, _key, _pub = homes
    out = tmp_path / "bom.json"
    meta = run_json("bom", MINILM_REPO, "-o", out, home=gap)
    text = out.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    doc = json.loads(text)
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    model = doc["metadata"]["component"]
    assert (model["type"], model["name"], model["version"]) == (
        "machine-learning-model",
        MINILM_REPO,
        MINILM_COMMIT,
    )
    assert model["licenses"] == [{"license": {"id": "Apache-2.0"}}]  # from the model card's front matter
    files = {c["name"]: {h["alg"]: h["content"] for h in c["hashes"]} for c in model["components"]}
    shown = run_json("show", MINILM_REPO, home=gap)
    assert files == {f["path"]: {"SHA-256": f["sha256"], "BLAKE3": f["blake3"]} for f in shown["files"]}  # type: ignore[index]
    assert files["model.safetensors"]["SHA-256"] == MINILM_SHA256
    refs = {r["type"]: r for r in model["externalReferences"]}
    assert set(refs) == {"attestation", "digital-signature"}
    assert "admitted by trust entry conn" in refs["digital-signature"]["comment"]
    assert meta["components"] == 1 + len(files) and meta["license"] == "apache-2.0"  # type: ignore[index]
    # Deterministic: the same catalog gives the same bytes (no random serial, no wall-clock time).
    assert run("bom", MINILM_REPO, home=gap).stdout == text


def test_the_exported_statements_check_with_outside_tools(
    tmp_path: Path, homes: tuple[Path, Path, Path]
) -> None:
    gap, key, pub = homes
    out = tmp_path / "evidence"
    result = run_json("provenance", MINILM_REPO, "--format", "in-toto", "--out", out, "--key", key, home=gap)
    assert result["files"] == ["model.sig", "provenance.sig", "import.intoto.json", "import.sig"]  # type: ignore[index]
    path = run("path", MINILM_REPO, home=gap).stdout.strip()
    cli = [sys.executable, "-m", "model_signing", "verify", "key", "--signature", out / "model.sig"]
    ok = subprocess.run(
        [*cli, "--public_key", pub, "--no-ignore-git-paths", path], capture_output=True, text=True
    )
    assert ok.returncode == 0 and "Verification succeeded" in ok.stdout, ok.stdout + ok.stderr

    # The ML-BOM names the very files exported, by digest.
    bom = json.loads(run("bom", MINILM_REPO, home=gap).stdout)
    urls = {r["url"] for r in bom["metadata"]["component"]["externalReferences"]}
    for name in ("model.sig", "provenance.sig"):
        assert f"urn:vault:{name}:sha256:{hashlib.sha256((out / name).read_bytes()).hexdigest()}" in urls

    # The import attestation: files as subjects, the trust entry and bundle, signed with the site key.
    statement = json.loads((out / "import.intoto.json").read_text())
    assert statement["predicateType"] == "urn:vault:import:v1"
    subjects = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
    assert subjects["model.safetensors"] == MINILM_SHA256
    predicate = statement["predicate"]
    assert {s["admitted_by"] for s in predicate["signatures"]} == {"conn"}
    assert len(predicate["imports"]) == 1 and len(predicate["imports"][0]["bundle_index_sha256"]) == 64
    envelope = json.loads((out / "import.sig").read_text())["dsseEnvelope"]
    payload = base64.b64decode(envelope["payload"])
    assert payload == (out / "import.intoto.json").read_bytes().rstrip(b"\n")
    pae = b"DSSEv1 %d %s %d %s" % (
        len(envelope["payloadType"]),
        envelope["payloadType"].encode(),
        len(payload),
        payload,
    )
    public = load_pem_public_key(pub.read_bytes())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(base64.b64decode(envelope["signatures"][0]["sig"]), pae, ec.ECDSA(hashes.SHA256()))


def test_in_toto_export_needs_a_directory(homes: tuple[Path, Path, Path]) -> None:
    gap, _key, _pub = homes
    err = run("provenance", MINILM_REPO, "--format", "in-toto", home=gap, code=2).stderr
    assert "--out" in err and err.count("\n") == 1
