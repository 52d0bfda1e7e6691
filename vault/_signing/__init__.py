"""Signatures: DSSE envelopes in Sigstore bundles, keys, and the trust policy."""
