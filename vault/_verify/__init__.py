"""Verification (private): the signed entries read from a bundle (`signed_entries`), one catalog
snapshot (`snapshot`), the pure judgement of every signed statement against it (`metadata`), the
blobs as they stream (`blobs`), and the media check that names or rebuilds damaged parts (`media`).
Importing and verifying as commands are operations (`vault._ops.importer`, `vault._ops.verifier`)."""
