"""The operations behind the commands (private): each takes a `Home` and returns a typed result.

`ingest` (add), `attest` (sign), `revocation` (revoke, and applying revocations),
`ref_update` (ref set), `maintenance` (scrub, gc), `fsck`, `reports` (list, show,
provenance), `trust_admin` (trust add/remove/quorum). `pull` is in
`vault._hub.client`, `bundle` in `vault._bundle.writer`, `verify` and `import`
in `vault._verify.importer`.
"""
