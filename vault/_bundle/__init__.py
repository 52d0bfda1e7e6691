"""Bundles: the untrusted tar container that carries revisions across the gap."""
