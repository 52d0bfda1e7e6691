"""The catalog's tables. Alembic migrations in `migrations/` create them; this module only maps them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Model(Base):
    __tablename__ = "models"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[str] = mapped_column(String(200), unique=True)
    revisions: Mapped[list[Revision]] = relationship(back_populates="model")


class Revision(Base):
    __tablename__ = "revisions"
    __table_args__ = (UniqueConstraint("model_id", "commit"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    commit: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    fetched_at: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[str] = mapped_column(String(40))
    # The unsigned statements, kept so `vault sign` never re-hashes the files.
    model_statement: Mapped[bytes] = mapped_column(LargeBinary)
    provenance_statement: Mapped[bytes] = mapped_column(LargeBinary)
    model: Mapped[Model] = relationship(back_populates="revisions")
    files: Mapped[list[File]] = relationship(
        back_populates="revision", order_by="File.path", cascade="all, delete-orphan"
    )
    signatures: Mapped[list[Signature]] = relationship(
        back_populates="revision", order_by="Signature.id", cascade="all, delete-orphan"
    )


class Ref(Base):
    __tablename__ = "refs"
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("revisions.id"))
    revision: Mapped[Revision] = relationship()


class Blob(Base):
    __tablename__ = "blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)  # weights files pass 2 GiB
    blake3: Mapped[str] = mapped_column(String(64))
    git_sha1: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # What `vault scrub` found wrong with the stored copy (missing, resized, changed);
    # revisions using it are `damaged` and do not resolve until an import repairs it.
    damage: Mapped[str | None] = mapped_column(Text, nullable=True)
    damaged_at: Mapped[str | None] = mapped_column(String(40), nullable=True)


class File(Base):
    __tablename__ = "files"
    revision_id: Mapped[int] = mapped_column(ForeignKey("revisions.id"), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"), index=True)
    size: Mapped[int] = mapped_column(BigInteger)  # weights files pass 2 GiB
    lfs: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # Why loading this file runs code (admitted only because the operator named it); NULL: it does not.
    runs_code: Mapped[str | None] = mapped_column(Text, nullable=True)
    revision: Mapped[Revision] = relationship(back_populates="files")
    blob: Mapped[Blob] = relationship()


class Signature(Base):
    __tablename__ = "signatures"
    __table_args__ = (UniqueConstraint("revision_id", "kind", "key_fingerprint"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("revisions.id"), index=True)
    # model: the vault's OMS signature; provenance: the signed provenance
    # statement; upstream: a publisher's OMS signature kept as evidence.
    kind: Mapped[str] = mapped_column(String(20))
    method: Mapped[str] = mapped_column(String(20))
    signer: Mapped[str] = mapped_column(String(200))
    key_fingerprint: Mapped[str] = mapped_column(String(64))
    verified: Mapped[bool] = mapped_column(Boolean)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    # A Sigstore signature's trusted root (`SigstoreRoot`), carried in bundles; never trusted.
    trusted_root_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revision: Mapped[Revision] = relationship(back_populates="signatures")


class SigstoreRoot(Base):
    """A trusted_root.json a signature was made (or verified) under, kept once by its sha256.

    Evidence only: a bundle carries it so the far side can see which root the
    signer used; verification uses the root a trust entry pinned.
    """

    __tablename__ = "sigstore_roots"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class TrustEntryRow(Base):
    __tablename__ = "trust_entries"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    public_key_pem: Mapped[bytes] = mapped_column(LargeBinary)
    fingerprint: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(Text)  # JSON list of globs
    created_at: Mapped[str] = mapped_column(String(40))
    expires_at: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # "key": public_key_pem is the key. "sigstore": a keyless identity (certificate
    # SAN + OIDC issuer) checked offline against the pinned Sigstore trusted root.
    kind: Mapped[str] = mapped_column(String(20), default="key", server_default="key")
    identity: Mapped[str | None] = mapped_column(String(300), nullable=True)
    issuer: Mapped[str | None] = mapped_column(String(300), nullable=True)
    trusted_root: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # Quorum: the entry is one party, unless each identity it admits counts on its own.
    each_identity_counts: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class TrustQuorum(Base):
    """Repositories matching `scope` need `required` model signatures from distinct trusted signers."""

    __tablename__ = "trust_quorums"
    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    required: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[str] = mapped_column(String(40))


class Revocation(Base):
    __tablename__ = "revocations"
    __table_args__ = (UniqueConstraint("repo_id", "commit", "key_fingerprint"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[str] = mapped_column(String(200))
    commit: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    revoked_at: Mapped[str] = mapped_column(String(40))
    signer: Mapped[str] = mapped_column(String(200))
    key_fingerprint: Mapped[str] = mapped_column(String(64))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    trusted_root_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The bundle (sha256 of its index) that carried it here; NULL when revoked here (vault revoke).
    carried_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ImportedBundle(Base):
    __tablename__ = "bundles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    index_sha256: Mapped[str] = mapped_column(String(64), index=True)
    parts: Mapped[int] = mapped_column(Integer)
    operator: Mapped[str] = mapped_column(String(100))
    imported_at: Mapped[str] = mapped_column(String(40))
    revisions: Mapped[str] = mapped_column(Text)  # JSON list of repo@commit


class CatalogMeta(Base):
    """Facts about the catalog itself: `store_id`, the store whose blobs it lists."""

    __tablename__ = "catalog_meta"
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class AuditEvent(Base):
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(300))
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


Index("ix_refs_revision", Ref.revision_id)
Index("ix_revocations_target", Revocation.repo_id, Revocation.commit)
