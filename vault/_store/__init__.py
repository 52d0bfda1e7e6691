"""The store (private): content-addressed read-only blobs and staging (`blobs`), and the blobs an
interrupted import verified, kept for its next run (`resume`). The views published from the catalog
are an operation (`vault._ops.views`)."""
