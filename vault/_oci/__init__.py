"""OCI registries: the reference grammar, the ModelPack and referrer documents, and the client."""
