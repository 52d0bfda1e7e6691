"""The SQL catalog: what the vault holds and why it trusts it."""
