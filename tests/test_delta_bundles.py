"""Delta bundles: a new revision crosses with only the blobs the far side lacks.

`--base REF` (no return channel) and `--have RECEIPT` (a signed `vault
inventory` from the far side) leave out blobs; import takes them from its
store or refuses, naming the file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import tarfile
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from tests.bundletools import index_of, read_entries, set_index, write_entries
from tests.conftest import KeyPair, Transfer, run, run_json, sha256_file, snapshot

BIG = 4 << 20  # the shard that does not change: large, so "only one file" shows in the bundle size


def _shards(model: Path, changed_seed: int) -> Path:
    """A two-shard model: shard 1 stays the same across revisions, shard 2 changes with the seed."""
    model.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    save_file({"a": rng.standard_normal(BIG // 4).astype(np.float32)}, str(model / "model-00001.safetensors"))
    rng = np.random.default_rng(changed_seed)
    save_file({"b": rng.standard_normal(1024).astype(np.float32)}, str(model / "model-00002.safetensors"))
    (model / "config.json").write_text(json.dumps({"model_type": "tiny"}))
    return model


def _blob_entries(bundle: Path) -> set[str]:
    with tarfile.open(bundle) as tar:
        return {n.removeprefix("blobs/sha256/") for n in tar.getnames() if n.startswith("blobs/")}


def _first_crossing(tmp_path: Path, keypair: KeyPair) -> tuple[Path, Path, str]:
    """Revision 1 crosses in full; returns the connected home, the gap home and revision 1's commit."""
    connected, gap = tmp_path / "connected", tmp_path / "gap"
    v1 = run_json("add", _shards(tmp_path / "v1", 1), "--repo", "acme/sharded", home=connected)
    run("sign", "acme/sharded", "--key", keypair.private, home=connected)
    run("bundle", "acme/sharded", "-o", tmp_path / "full.vault", home=connected)
    run("trust", "add", "acme", "--key", keypair.public, "--scope", "acme/*", home=gap)
    run("import", tmp_path / "full.vault", home=gap)
    return connected, gap, v1["commit"]  # type: ignore[index]


def _second_revision(tmp_path: Path, connected: Path, keypair: KeyPair) -> str:
    v2 = run_json("add", _shards(tmp_path / "v2", 2), "--repo", "acme/sharded", home=connected)
    run("sign", "acme/sharded", "--key", keypair.private, home=connected)
    return v2["commit"]  # type: ignore[index]


def test_base_ships_only_the_changed_shard_and_it_imports(tmp_path: Path, keypair: KeyPair) -> None:
    connected, gap, v1 = _first_crossing(tmp_path, keypair)
    v2 = _second_revision(tmp_path, connected, keypair)
    delta = tmp_path / "delta.vault"
    out = run_json("bundle", "acme/sharded", "--base", f"acme/sharded@{v1}", "-o", delta, home=connected)
    changed = sha256_file(tmp_path / "v2" / "model-00002.safetensors")
    assert _blob_entries(delta) == {changed}
    assert out["blobs"] == 1 and out["omitted_blobs"] == 2  # type: ignore[index]
    full = tmp_path / "v2-full.vault"
    run("bundle", "acme/sharded", "-o", full, home=connected)
    # The unchanged 4 MiB shard is what the delta saves.
    assert delta.stat().st_size < 64 << 10 < BIG < full.stat().st_size
    assert index_of(read_entries(delta))["omitted"] == sorted(
        [{"sha256": sha256_file(tmp_path / "v2" / n), "size": (tmp_path / "v2" / n).stat().st_size}
         for n in ("model-00001.safetensors", "config.json")], key=lambda b: b["sha256"],
    )  # fmt: skip

    result = run_json("import", delta, home=gap)
    assert result["revisions"] == [f"acme/sharded@{v2}"]  # type: ignore[index]
    assert (result["blobs"], result["reused"]) == (1, 2)  # type: ignore[index]
    served = Path(run("path", "acme/sharded", home=gap).stdout.strip())
    assert served.name == v2
    for name in ("model-00001.safetensors", "model-00002.safetensors", "config.json"):
        assert (served / name).read_bytes() == (tmp_path / "v2" / name).read_bytes()
    # The HF view serves the reused blobs too (their git sha1 and blake3 came from the catalog).
    shown = run_json("show", "acme/sharded", home=gap)
    assert {f["sha256"] for f in shown["files"]} >= {changed}  # type: ignore[index]
    assert run_json("scrub", home=gap)["damaged"] == []  # type: ignore[index]


def test_a_delta_bundle_is_refused_where_the_left_out_blobs_are_not_held(
    tmp_path: Path, keypair: KeyPair
) -> None:
    connected, _gap, v1 = _first_crossing(tmp_path, keypair)
    _second_revision(tmp_path, connected, keypair)
    delta = tmp_path / "delta.vault"
    run("bundle", "acme/sharded", "--base", f"acme/sharded@{v1}", "-o", delta, home=connected)
    fresh = tmp_path / "fresh"
    run("trust", "add", "acme", "--key", keypair.public, "--scope", "acme/*", home=fresh)
    before = snapshot(fresh)
    for command in ("verify", "import"):
        err = run(command, delta, home=fresh, code=1).stderr
        assert err.count("\n") == 1, err
        assert "left out of this delta bundle" in err and "this vault never stored it" in err, err
        assert "model-00001.safetensors" in err or "config.json" in err
    assert snapshot(fresh) == before


def test_a_left_out_blob_gone_from_the_store_is_named(tmp_path: Path, keypair: KeyPair) -> None:
    connected, gap, v1 = _first_crossing(tmp_path, keypair)
    _second_revision(tmp_path, connected, keypair)
    delta = tmp_path / "delta.vault"
    run("bundle", "acme/sharded", "--base", f"acme/sharded@{v1}", "-o", delta, home=connected)
    shard = sha256_file(tmp_path / "v1" / "model-00001.safetensors")
    (gap / "store" / "blobs" / "sha256" / shard[:2] / shard[2:]).unlink()
    err = run("import", delta, home=gap, code=1).stderr
    assert "model-00001.safetensors: left out of this delta bundle" in err
    assert "missing or resized" in err


def test_the_index_cannot_omit_what_no_signature_names(tmp_path: Path, transfer: Transfer) -> None:
    entries = read_entries(transfer.bundle)
    index = index_of(entries)
    index["omitted"] = [{"sha256": hashlib.sha256(b"x").hexdigest(), "size": 1}]
    forged = write_entries(tmp_path / "forged.vault", set_index(entries, index))
    before = snapshot(transfer.airgapped)
    err = run("import", forged, home=transfer.airgapped, code=1).stderr
    assert "is not part of any signed revision" in err
    assert snapshot(transfer.airgapped) == before


def test_receipt_leaves_out_what_the_far_side_holds(
    tmp_path: Path, keypair: KeyPair, make_keypair: object
) -> None:
    connected, gap, _v1 = _first_crossing(tmp_path, keypair)
    v2 = _second_revision(tmp_path, connected, keypair)
    site = make_keypair("site")  # type: ignore[operator]
    receipt = tmp_path / "receipt.json"
    inv = run_json("inventory", "-o", receipt, "--key", site.private, home=gap)
    assert inv["blobs"] == 3 and inv["revisions"] == 1  # type: ignore[index]
    assert json.loads(receipt.read_text())["mediaType"].startswith("application/vnd.dev.sigstore.bundle")
    assert "inventory" in {e["action"] for e in run_json("audit", home=gap)["events"]}  # type: ignore[index]

    run("trust", "add", "air-site", "--key", site.public, "--scope", "@receipts", home=connected)
    delta = tmp_path / "delta.vault"
    out = run("bundle", "acme/sharded", "--have", receipt, "-o", delta, home=connected).stdout
    assert "left out 2 blobs" in out
    assert _blob_entries(delta) == {sha256_file(tmp_path / "v2" / "model-00002.safetensors")}
    out = run("import", delta, home=gap).stdout
    assert out.startswith(f"imported acme/sharded@{v2} (1 blobs, ") and "; 2 more already held here)" in out


def test_a_receipt_from_an_untrusted_key_is_refused(
    tmp_path: Path, keypair: KeyPair, make_keypair: object
) -> None:
    connected, gap, _v1 = _first_crossing(tmp_path, keypair)
    _second_revision(tmp_path, connected, keypair)
    site, stranger = make_keypair("site"), make_keypair("stranger")  # type: ignore[operator]
    receipt = tmp_path / "receipt.json"
    run("inventory", "-o", receipt, "--key", stranger.private, home=gap)
    delta = tmp_path / "delta.vault"
    # Nobody trusted for receipts; then the real site key; then a key trusted for every model (not receipts).
    err = run("bundle", "acme/sharded", "--have", receipt, "-o", delta, home=connected, code=1).stderr
    assert "no key is trusted for receipts here" in err and err.count("\n") == 1
    run("trust", "add", "air-site", "--key", site.public, "--scope", "@receipts", home=connected)
    run("trust", "add", "models", "--key", stranger.public, "--scope", "*", home=connected)
    err = run("bundle", "acme/sharded", "--have", receipt, "-o", delta, home=connected, code=1).stderr
    assert "not signed by any trusted key" in err and err.count("\n") == 1, err
    assert not delta.exists()
    # A receipt whose blob list was edited after signing fails the same way.
    good = tmp_path / "good.json"
    run("inventory", "-o", good, "--key", site.private, home=gap)
    doc = json.loads(good.read_text())
    stmt = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    stmt["predicate"]["blobs"].append("0" * 64)
    doc["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(stmt).encode()).decode()
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc))
    err = run("bundle", "acme/sharded", "--have", edited, "-o", delta, home=connected, code=1).stderr
    assert "does not verify" in err, err
    assert not delta.exists()
