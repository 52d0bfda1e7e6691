"""`vault check`: what an inference node runs before it serves a model (an init container).

A node has no catalog. It has a policy file (`vault trust export`), signed by
a key the node pins (`--policy-key`), and a model: a directory holding the
files and, in `.vault/`, the signed set `vault publish` attaches (the unsigned
index and every signature, revocation and carried root), or a registry
reference whose referrers carry it. The signed set is judged by the same pure
verifier an import uses (`check_signed`), against a snapshot built from the
policy file instead of a catalog; then every file is hashed and compared with
the signed statements (the exact set of paths: a file nobody signed is a
refusal, since a loader may pick it up), and judged by its bytes
(`check_content`, `judge_revision`). The default answer is no.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import replace
from pathlib import Path

from vault._bundle.index import INDEX_NAME, MAX_INDEX_BYTES, parse_index
from vault._catalog.reads import RevokedContent
from vault._checks.content import Content, check_content, judge_revision
from vault._checks.formats import Verdict
from vault._checks.policy import ContentPolicy
from vault._clock import utc_now
from vault._hashing import FileDigest, hash_file
from vault._oci.client import RegistryClient, shown
from vault._oci.documents import (
    SIGNED_DIR,
    check_node_paths,
    in_signed_dir,
)
from vault._oci.reference import OciRef
from vault._oci.signed_set import judge_artifact, served_wrong_size
from vault._regular_files import read_given_file
from vault._signing.dsse import MAX_SIGNATURE_BYTES, MAX_SIGNATURE_TOTAL
from vault._signing.entries import TrustEntry
from vault._signing.keys import key_hint, load_public_key, public_key_pem
from vault._signing.policy_file import MAX_POLICY_BYTES, POLICY_SCOPE, PolicyDocument, parse_policy
from vault._signing.trust import TrustPolicy
from vault._statements.refs import Ref
from vault._verify.metadata import CheckedBundle, CheckedRevision, check_signed
from vault._verify.signed_entries import SignedEntries, signed_set
from vault._verify.snapshot import CatalogSnapshot
from vault.errors import (
    BundleFormatError,
    IntegrityError,
    NotFoundError,
    TrustError,
    UnsafeContentError,
    UsageError,
    VerificationError,
)
from vault.results import NodeCheck

SCRATCH_PREFIX = ".vault-check-"
MOVING_MARKER = f"{SCRATCH_PREFIX}moving"


def _clear_a_killed_check(target: Path) -> None:
    """What a killed `--into` left, so that a restarted init container does not find its emptyDir
    "not empty" for ever: its private folder, and, if it was stopped while moving the verified
    files in (the marker), everything it had moved."""
    moving = target / MOVING_MARKER
    for child in sorted(target.iterdir()):
        killed_scratch = child.name.startswith(SCRATCH_PREFIX) and child.is_dir() and not child.is_symlink()
        if killed_scratch or (moving.is_file() and child != moving):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
    moving.unlink(missing_ok=True)


def load_policy(path: Path, key_path: Path) -> PolicyDocument:
    """The policy file, once the pinned key's signature over it verifies."""
    raw = read_given_file(path, MAX_POLICY_BYTES, "trust policy")
    key = load_public_key(key_path)
    pinned = TrustEntry("policy key", public_key_pem(key), key_hint(key), (POLICY_SCOPE,))
    verified = TrustPolicy([pinned], now=utc_now()).verify(raw, POLICY_SCOPE, str(path))
    return parse_policy(verified.payload, str(path))


def judge(doc: PolicyDocument, signed: SignedEntries, expect: Ref | None = None) -> CheckedBundle:
    """The signed set under the policy file, as an import judges it under the catalog."""
    repos = {e.repo_id for e in signed.index.revisions}
    snapshot = CatalogSnapshot(
        policy=doc.policy(utc_now()), repo_ids=[], refs={repo: set() for repo in repos},
        revoked={r.revision: RevokedContent(r.files, r.revokers) for r in doc.revoked},
        present=set(), damaged={}, stored={}, on_disk={}, available=[],
    )  # fmt: skip
    bundle = check_signed(signed, snapshot)
    if len(bundle.revisions) != 1:
        raise BundleFormatError(f"the signed set names {len(bundle.revisions)} revisions; a model is one")
    # An import keeps a revoked revision catalogued and unserved; a node has nothing to keep it in.
    label = bundle.revisions[0].label
    revoked = {r.revision for r in doc.revoked} | {f"{c.repo_id}@{c.commit}" for c, _v in bundle.revocations}
    if label in revoked:
        raise TrustError(f"{label}: revoked; it must not be served")
    if expect is not None:
        _check_expected(bundle.revisions[0], expect, doc)
    return bundle


def _check_expected(rev: CheckedRevision, expect: Ref, doc: PolicyDocument) -> None:
    """`--expect`: the node serves this model, at this commit, or at the commit the policy file
    says the ref names. Whoever can move a tag could otherwise swap in any other trusted,
    unrevoked revision; a signed provenance cannot settle a ref, since an older release's says
    the same ref named it then."""
    prov = rev.provenance
    if prov.repo_id != expect.repo_id:
        raise TrustError(f"{rev.label}: not the expected model {expect.repo_id}")
    if not expect.revision:  # the model, at whatever revision
        return
    if expect.is_commit:
        if prov.commit != expect.revision:
            raise TrustError(f"{rev.label}: not the expected commit {expect.revision}")
        return
    named = doc.refs.get(str(expect))
    if named is None:
        raise TrustError(
            f"{rev.label}: the policy file does not say which revision {expect} is "
            "(export it again from the vault that holds it, or expect a commit)"
        )
    if named != prov.commit:
        raise TrustError(f"{rev.label}: {expect} is {named} in the policy file, not this revision")


def check_directory(
    directory: Path, doc: PolicyDocument, policy: ContentPolicy, expect: Ref | None = None
) -> NodeCheck:
    if not directory.is_dir():
        raise NotFoundError(f"{directory}: no such directory")
    return _check_files(
        str(directory), directory, judge(doc, read_signed_dir(directory / SIGNED_DIR), expect), policy
    )


def read_signed_dir(where: Path) -> SignedEntries:
    """The signed set as `vault check --into` and a modelcar lay it out: the index and the entries it
    names, and nothing else (a file there nobody signed could be a loader's target too)."""
    if not where.is_dir() or where.is_symlink():
        raise BundleFormatError(f"{where}: no signed set here (a model directory holds it in {SIGNED_DIR}/)")
    held_files = _tree(where, SIGNED_DIR)
    raw_index = _read(where / INDEX_NAME, MAX_INDEX_BYTES)
    index = parse_index(raw_index)
    names = index.signature_entries()
    for rel in sorted(set(held_files) - names - {INDEX_NAME}):
        raise BundleFormatError(
            f"{SIGNED_DIR}/{rel}: not part of the signed set (only its index and entries)"
        )
    raws: dict[str, bytes] = {}
    held = 0
    for name in sorted(names & set(held_files)):
        raws[name] = _read(where / name, MAX_SIGNATURE_BYTES)
        held += len(raws[name])
        if held > MAX_SIGNATURE_TOTAL:  # stop reading: memory, before the rule's own check
            break
    return signed_set(str(where), raw_index, index, raws)


def _read(path: Path, cap: int) -> bytes:
    try:
        return read_given_file(path, cap, "signed-set entry")
    except UsageError as exc:
        raise BundleFormatError(str(exc)) from None


def model_tree(directory: Path) -> dict[str, Path]:
    """Every file of a model directory by its relative path, the signed set apart."""
    return {rel: path for rel, path in _tree(directory, "").items() if not in_signed_dir(rel)}


def _tree(directory: Path, under: str) -> dict[str, Path]:
    """Every regular file under `directory` by its relative path; a link, device or other special
    file is refused (a loader would follow it where no signature reaches)."""
    found: dict[str, Path] = {}
    for root, dirs, files in os.walk(directory):
        here = Path(root)
        for name in [*dirs, *files]:
            path = here / name
            rel = path.relative_to(directory).as_posix()
            mode = path.lstat().st_mode
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                where = f"{under}/{rel}" if under else rel
                raise UnsafeContentError(
                    f"{shown(where)}: not a regular file (a link or special file is never admitted)"
                )
            found[rel] = path
    return found


def _check_files(source: str, directory: Path, bundle: CheckedBundle, policy: ContentPolicy) -> NodeCheck:
    rev, blake3 = bundle.revisions[0], bundle.blake3
    signed = rev.provenance.files
    check_node_paths(rev.label, list(signed))
    tree = model_tree(directory)
    for path in sorted(set(tree) | set(signed)):
        if path not in signed:
            raise IntegrityError(f"{shown(path)}: in the model directory, not in the signed statements")
        if path not in tree:
            raise IntegrityError(f"{path}: signed, but missing from the model directory")
    verdicts: dict[str, Verdict] = {}
    total = 0
    for path, rec in sorted(signed.items()):
        got: FileDigest = hash_file(tree[path])
        if got.size != rec.size:
            raise IntegrityError(f"{path}: {got.size} bytes, signed size is {rec.size}")
        if got.sha256 != rec.sha256:
            raise IntegrityError(
                f"{path}: sha256 mismatch (signed {rec.sha256[:16]}…, found {got.sha256[:16]}…)"
            )
        if rec.sha256 in blake3 and got.blake3 != blake3[rec.sha256]:
            raise IntegrityError(f"{path}: blake3 mismatch with the signature")
        verdicts[path] = check_content(path, Content.of_file(tree[path]))
        total += got.size
    judge_revision(rev.label, verdicts, policy)
    signers = sorted({v.signer.name for _k, v in rev.verified})
    return NodeCheck(source, rev.label, len(signed), total, signers)


def check_registry(
    source: OciRef,
    client: RegistryClient,
    doc: PolicyDocument,
    policy: ContentPolicy,
    into: Path | None,
    expect: Ref | None = None,
) -> NodeCheck:
    """Judge the signed set the registry lists, download every file into a private folder, check
    it as a directory, then (`into`) move it in place; nothing is left behind on a refusal."""
    artifact = judge_artifact(client, source, lambda signed: judge(doc, signed, expect))
    target = into
    base = target if target is not None else Path(os.environ.get("TMPDIR", "/tmp"))
    if target is not None:
        target.mkdir(parents=True, exist_ok=True)
        _clear_a_killed_check(target)
        if any(target.iterdir()):
            raise UsageError(f"{target}: not empty; vault check --into fills an empty directory")
    scratch = base / f"{SCRATCH_PREFIX}{os.getpid()}-{os.urandom(4).hex()}"
    scratch.mkdir()
    try:
        for path, sha, size in artifact.files:
            dest = scratch / path
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(dest, "xb") as fh:
                got = 0
                for chunk in client.blob_stream(f"sha256:{sha}", size):
                    fh.write(chunk)
                    got += len(chunk)
            if got != size:
                raise IntegrityError(served_wrong_size(path, got, size))
        result = _check_files(str(source), scratch, artifact.bundle, policy)
        if target is None:
            return result
        _write_signed_dir(scratch / SIGNED_DIR, artifact.signed)
        # A stop between two renames leaves part of the model in place: the marker says so, and
        # the next check clears the target before it starts (it never passes a partial one).
        marker = target / MOVING_MARKER
        marker.touch()
        for child in sorted(scratch.iterdir()):
            os.rename(child, target / child.name)
        marker.unlink()
        return replace(result, written_to=str(target))
    except VerificationError as exc:
        raise type(exc)(f"{source}: {exc}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _write_signed_dir(where: Path, signed: SignedEntries) -> None:
    where.mkdir()
    (where / INDEX_NAME).write_bytes(signed.raw_index)
    for name, raw in sorted(signed.raws.items()):
        path = where / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
