"""`vault import oci://…` and `vault pull oci://…`: a registry artifact verified exactly as a bundle is.

Nothing is trusted because it came from the site's own registry. Before a
byte of the model is downloaded, vault's signed set is judged against this
home's snapshot (`check_signed`, as for a bundle) and the ModelPack manifest
is held against it (`judge_artifact`): it must be the very manifest vault
publishes for the signed revision, so what a ModelPack client pulls is what
was verified. The artifact is then reassembled, in the home's scratch space,
into the bundle `vault bundle` would have written for that revision (its
unsigned index, every signature, revocation and carried root, then each blob
as the registry serves it), and that bundle goes through `import_bundle`:
every rule again, every blob's size and digests, its content, one commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from vault._bundle.index import INDEX_NAME, blob_entry
from vault._bundle.tar_writer import FileTarSink, TarWriter
from vault._checks.policy import ContentPolicy
from vault._oci.client import RegistryClient
from vault._oci.reference import OciRef
from vault._oci.signed_set import judge_artifact, served_wrong_size
from vault._ops.importer import import_bundle
from vault._progress import NoProgress, Progress
from vault._verify.metadata import CheckedBundle, check_signed
from vault._verify.signed_entries import SignedEntries
from vault._verify.snapshot import take_snapshot
from vault.errors import IntegrityError, VerificationError
from vault.results import ImportResult

if TYPE_CHECKING:
    from vault._home import Home

SPOOL = "registry.vault"


def import_oci(
    vault: Home,
    source: OciRef,
    client: RegistryClient,
    policy: ContentPolicy | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    progress = progress or NoProgress()

    def judge(signed: SignedEntries) -> CheckedBundle:
        return check_signed(signed, take_snapshot(vault, signed.index))

    try:
        with vault.writer_lock(), vault.store.staging("registry") as spool:
            fetch_bundle(client, source, spool / SPOOL, progress, judge)
            return import_bundle(vault, spool / SPOOL, policy, progress)
    except VerificationError as exc:
        raise type(exc)(f"{source}: {exc}") from None


def fetch_bundle(
    client: RegistryClient,
    source: OciRef,
    out: Path,
    progress: Progress,
    judge: Callable[[SignedEntries], CheckedBundle],
) -> None:
    """The bundle the published artifact stands for, written to `out` (scratch), once `judge_artifact`
    passed. The judged index bounds what is read: the blobs it carries, at their signed sizes
    (blobs it leaves out are a delta's, taken from the store by the import or refused)."""
    artifact = judge_artifact(client, source, judge)
    index, names = artifact.signed.index, artifact.bundle.names
    with open(out, "wb") as fh:
        tar = TarWriter(FileTarSink(fh))
        tar.add_bytes(INDEX_NAME, artifact.signed.raw_index)
        for name, raw in artifact.signed.raws.items():
            tar.add_bytes(name, raw)
        progress.start(sum(index.blobs.values()), "fetch")
        try:
            for sha, size in sorted(index.blobs.items()):
                chunks = _counted(client.blob_stream(f"sha256:{sha}", size), progress)
                got = tar.add_stream(blob_entry(sha), size, chunks)
                if got != size:
                    raise IntegrityError(served_wrong_size(names[sha], got, size))
        finally:
            progress.finish()
        tar.close()


def _counted(chunks: Iterator[bytes], progress: Progress) -> Iterator[bytes]:
    for chunk in chunks:
        progress.advance(len(chunk))
        yield chunk
