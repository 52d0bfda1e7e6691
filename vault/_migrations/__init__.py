"""Alembic migrations for the vault catalog (installed as `vault._migrations`)."""
