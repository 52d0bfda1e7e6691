"""A test-local PKI made with `cryptography`: a root CA, an intermediate, and a code-signing leaf."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

START = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)


@dataclass(frozen=True)
class Pki:
    root: Path  # the CA a verifying vault trusts
    chain: Path  # the intermediate, carried after the leaf
    leaf: Path
    key: Path  # the leaf's private key (PKCS#8 PEM, unencrypted)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    ca: bool,
    leaf: Leaf | None = None,
) -> x509.Certificate:
    leaf = leaf or Leaf()
    start = START if ca else leaf.not_before
    builder = (
        x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + (CA_LIFETIME if ca else leaf.lifetime))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )  # fmt: skip
    usage = dict.fromkeys(
        ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
         "encipher_only", "decipher_only"), False,
    )  # fmt: skip
    if ca:
        usage |= {"digital_signature": False, "key_cert_sign": True, "crl_sign": True}
    else:
        usage |= {"digital_signature": leaf.signing, "key_cert_sign": False, "crl_sign": False}
        usage["key_agreement"] = leaf.key_agreement
    builder = builder.add_extension(x509.KeyUsage(**usage), critical=True)
    if not ca and leaf.purposes:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(leaf.purposes)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


CA_LIFETIME = datetime.timedelta(days=3650)


@dataclass(frozen=True)
class Leaf:
    """What the signing leaf allows and when: a code-signing certificate by default."""

    signing: bool = True  # KeyUsage digitalSignature
    key_agreement: bool = False
    purposes: tuple[x509.ObjectIdentifier, ...] = (ExtendedKeyUsageOID.CODE_SIGNING,)
    not_before: datetime.datetime = START
    lifetime: datetime.timedelta = CA_LIFETIME


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_pki(directory: Path, name: str = "Corp", leaf: Leaf | None = None) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    root_key, inter_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _cert(f"{name} Root", root_key, f"{name} Root", root_key, ca=True)
    inter = _cert(f"{name} Intermediate", inter_key, f"{name} Root", root_key, ca=True)
    leaf = _cert(f"{name} model signer", leaf_key, f"{name} Intermediate", inter_key, ca=False, leaf=leaf)
    pki = Pki(directory / "root.pem", directory / "chain.pem", directory / "leaf.pem", directory / "leaf.key")
    pki.root.write_bytes(_pem(root))
    pki.chain.write_bytes(_pem(inter))
    pki.leaf.write_bytes(_pem(leaf))
    pki.key.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    pki.key.chmod(0o600)
    _write_key(directory / "inter.key", inter_key)
    return pki


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)


def issue_leaf(pki: Pki, directory: Path, subject: str, leaf: Leaf | None = None) -> Pki:
    """Another leaf from the same intermediate: one organisation, another signer."""
    directory.mkdir(parents=True, exist_ok=True)
    inter = x509.load_pem_x509_certificate(pki.chain.read_bytes())
    inter_key = serialization.load_pem_private_key((pki.chain.parent / "inter.key").read_bytes(), None)
    assert isinstance(inter_key, ec.EllipticCurvePrivateKey)
    issuer = inter.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    key = ec.generate_private_key(ec.SECP256R1())
    other = Pki(pki.root, pki.chain, directory / "leaf.pem", directory / "leaf.key")
    other.leaf.write_bytes(_pem(_cert(subject, key, str(issuer), inter_key, ca=False, leaf=leaf)))
    _write_key(other.key, key)
    return other
