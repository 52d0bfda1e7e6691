"""Bundles (private): the untrusted tar container that carries revisions across the gap, as a format:
the index, split parts, the tar reader policy, deterministic entry headers, part digests and
parity. Writing one from the catalog is an operation (`vault._ops.bundle`)."""
