"""Trust policy beyond one key: quorum, expiry, and refs that never roll back unless asked."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path

from tests.conftest import KeyPair, run, run_json, snapshot, write_tiny_model
from tests.forge import forge_bundle


def _gap(tmp_path: Path, keys: dict[str, KeyPair]) -> Path:
    gap = tmp_path / "gap"
    for name, key in keys.items():
        run("trust", "add", name, "--key", key.public, "--scope", "meta-llama/*", home=gap)
    return gap


def test_quorum_needs_distinct_trusted_signers(
    tmp_path: Path, make_keypair: Callable[[str], KeyPair]
) -> None:
    a, b = make_keypair("alice"), make_keypair("bob")
    conn = tmp_path / "conn"
    run("add", write_tiny_model(tmp_path / "m"), "--repo", "meta-llama/tiny", home=conn)
    run("sign", "meta-llama/tiny", "--key", a.private, home=conn)
    run("bundle", "meta-llama/tiny", "-o", tmp_path / "one.vault", home=conn)
    gap = _gap(tmp_path, {"alice": a, "bob": b})
    run("trust", "quorum", "meta-llama/*", "2", home=gap)
    assert run_json("trust", "list", home=gap)["quorums"] == {"meta-llama/*": 2}

    before = snapshot(gap)
    err = run("import", tmp_path / "one.vault", home=gap, code=1).stderr
    want = "needs signatures from 2 distinct trusted signers (quorum for 'meta-llama/*'), has 1 (alice)"
    assert f"model statement: {want}" in err
    assert snapshot(gap) == before

    run("sign", "meta-llama/tiny", "--key", b.private, home=conn)
    run("bundle", "meta-llama/tiny", "-o", tmp_path / "two.vault", home=conn)
    run("import", tmp_path / "two.vault", home=gap)
    signers = {
        s["signer"]
        for s in run_json("show", "meta-llama/tiny", home=gap)["signatures"]
        if s["kind"] == "model"
    }
    assert signers == {"alice", "bob"}


def test_quorum_is_not_met_by_one_signer_under_two_names(
    tmp_path: Path, make_keypair: Callable[[str], KeyPair]
) -> None:
    a = make_keypair("alice")
    conn = tmp_path / "conn"
    run("add", write_tiny_model(tmp_path / "m"), "--repo", "meta-llama/tiny", home=conn)
    run("sign", "meta-llama/tiny", "--key", a.private, home=conn)
    run("sign", "meta-llama/tiny", "--key", a.private, home=conn)  # same key again: still one signature
    run("bundle", "meta-llama/tiny", "-o", tmp_path / "b.vault", home=conn)
    gap = _gap(tmp_path, {"alice": a})
    run("trust", "quorum", "meta-llama/*", "2", home=gap)
    assert "has 1 (alice)" in run("import", tmp_path / "b.vault", home=gap, code=1).stderr


def test_expired_trust_is_refused(tmp_path: Path, keypair: KeyPair) -> None:
    bundle = forge_bundle(
        tmp_path / "b.vault", keypair.private, {"config.json": b"{}"}, repo_id="meta-llama/x"
    )
    gap = tmp_path / "gap"
    run("trust", "add", "old", "--key", keypair.public, "--scope", "meta-llama/*", "--expires", "2020-01-01",
        home=gap)  # fmt: skip
    before = snapshot(gap)
    err = run("import", bundle, home=gap, code=1).stderr
    assert "signed by old (expired 2020-01-01T00:00:00Z): trust in that key has expired" in err
    assert snapshot(gap) == before
    run("trust", "remove", "old", home=gap)
    run("trust", "add", "current", "--key", keypair.public, "--scope", "meta-llama/*",
        "--expires", "2999-12-31", home=gap)  # fmt: skip
    run("import", bundle, home=gap)


def test_bad_expiry_date_is_a_usage_error(tmp_path: Path, keypair: KeyPair) -> None:
    res = run("trust", "add", "k", "--key", keypair.public, "--scope", "*", "--expires", "soon",
              home=tmp_path / "h", code=2)  # fmt: skip
    assert "invalid date 'soon'" in res.stderr


def _old_and_new(tmp_path: Path, keypair: KeyPair) -> tuple[Path, Path]:
    """Two signed revisions of acme/tiny: commit 1… fetched in January, commit 2… in February."""
    old = forge_bundle(tmp_path / "old.vault", keypair.private, {"config.json": b'{"v": 1}'},
                       commit="1" * 40, fetched_at="2026-01-01T00:00:00Z")  # fmt: skip
    new = forge_bundle(tmp_path / "new.vault", keypair.private, {"config.json": b'{"v": 2}'},
                       commit="2" * 40, fetched_at="2026-02-01T00:00:00Z")  # fmt: skip
    return old, new


def test_replayed_older_revision_does_not_move_the_ref(tmp_path: Path, keypair: KeyPair) -> None:
    old, new = _old_and_new(tmp_path, keypair)
    gap = tmp_path / "gap"
    run("trust", "add", "acme", "--key", keypair.public, "--scope", "acme/*", home=gap)
    run("import", new, home=gap)
    out = run("import", old, home=gap).stdout
    assert "acme/tiny@main kept at a newer revision" in out
    assert run("path", "acme/tiny", home=gap).stdout.strip().endswith("2" * 40)
    assert run("path", f"acme/tiny@{'1' * 40}", home=gap).stdout.strip().endswith("1" * 40)

    gap2 = tmp_path / "gap2"
    run("trust", "add", "acme", "--key", keypair.public, "--scope", "acme/*", home=gap2)
    run("import", new, home=gap2)
    run("import", old, "--allow-downgrade", home=gap2)
    assert run("path", "acme/tiny", home=gap2).stdout.strip().endswith("1" * 40)
    events = [e for e in run_json("audit", home=gap2)["events"] if e["action"] == "ref.downgrade"]
    assert events and events[0]["detail"] == {"old": "2" * 40, "new": "1" * 40, "by": getpass.getuser()}


def _old_then_new(tmp_path: Path, keypair: KeyPair) -> tuple[Path, Path, Path]:
    old, new = _old_and_new(tmp_path, keypair)
    gap = tmp_path / "gap"
    run("trust", "add", "acme", "--key", keypair.public, "--scope", "acme/*", home=gap)
    run("import", old, home=gap)
    run("import", new, home=gap)
    assert run("path", "acme/tiny", home=gap).stdout.strip().endswith("2" * 40)
    return gap, old, new


def _main_in_hf_view(gap: Path) -> str:
    return (gap / "hf" / "hub" / "models--acme--tiny" / "refs" / "main").read_text()


def test_reimport_with_allow_downgrade_moves_the_ref_back_after_the_fact(
    tmp_path: Path, keypair: KeyPair
) -> None:
    gap, old, _new = _old_then_new(tmp_path, keypair)
    plain = run_json("import", old, home=gap)
    assert plain["status"] == "already-imported" and plain["refs_moved"] == []
    assert run("path", "acme/tiny", home=gap).stdout.strip().endswith("2" * 40)
    out = run_json("import", old, "--allow-downgrade", home=gap)
    assert out["status"] == "refs-moved" and out["refs_moved"] == ["acme/tiny@main"]
    assert set(out) == set(plain), "import answers with one shape, whatever happened"
    assert run("path", "acme/tiny", home=gap).stdout.strip().endswith("1" * 40)
    assert _main_in_hf_view(gap) == "1" * 40
    events = [e for e in run_json("audit", home=gap)["events"] if e["action"] == "ref.downgrade"]
    assert [e["detail"] for e in events] == [{"old": "2" * 40, "new": "1" * 40, "by": getpass.getuser()}]


def test_ref_set_moves_back_only_when_asked_and_is_audited(tmp_path: Path, keypair: KeyPair) -> None:
    gap, _old, _new = _old_then_new(tmp_path, keypair)
    before = snapshot(gap)
    res = run("ref", "set", "acme/tiny@main", "1" * 40, home=gap, code=4)
    assert "needs --allow-downgrade" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert snapshot(gap) == before
    assert "no such revision" in run("ref", "set", "acme/tiny@main", "3" * 40, home=gap, code=3).stderr
    assert "not a commit" in run("ref", "set", f"acme/tiny@{'1' * 40}", "1" * 40, home=gap, code=2).stderr
    moved = run_json("ref", "set", "acme/tiny@main", "1" * 40, "--allow-downgrade", home=gap)
    assert moved == {"repo_id": "acme/tiny", "ref": "main", "old_commit": "2" * 40, "new_commit": "1" * 40,
                     "downgrade": True}  # fmt: skip
    assert run("path", "acme/tiny", home=gap).stdout.strip().endswith("1" * 40)
    assert _main_in_hf_view(gap) == "1" * 40
    forward = run_json("ref", "set", "acme/tiny@stable", "2" * 40, home=gap)
    assert forward["old_commit"] is None and not forward["downgrade"]
    assert run("path", "acme/tiny@stable", home=gap).stdout.strip().endswith("2" * 40)
    actions = [(e["action"], e["subject"]) for e in run_json("audit", home=gap)["events"]]
    assert ("ref.downgrade", "acme/tiny@main") in actions and ("ref.set", "acme/tiny@stable") in actions
