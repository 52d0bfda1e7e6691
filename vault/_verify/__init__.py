"""Verification (private): first the signed metadata (statements, index and trust policy in, the
map of expected blobs out: `metadata`), then the blobs as they stream (`importer`), which also
stages, commits and recovers an import."""
