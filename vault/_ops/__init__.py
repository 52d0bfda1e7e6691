"""The operations behind the commands (private): each takes a `Home` and returns a typed result.

Every command's orchestration lives here, and the packages below import none of it: `ingest`
(add), `pull`, `attest` (sign), `bundle` (and `delta`), `verifier` (verify), `importer` (import),
`revocation`, `ref_update` (ref set), `views` (publish), `damage`, `maintenance` (scrub, gc),
`fsck`, `trust_admin`, `inventory`, `evidence`, `bom`. What they read for people is in
`vault._reads`.
"""
