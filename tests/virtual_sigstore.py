"""A test-local Sigstore on 127.0.0.1: an OIDC issuer, Fulcio, a CT log and Rekor v1.

Every part is made here with `cryptography` (a root and an intermediate CA, a
CT log key, a Rekor key, an OIDC signing key) and described by a matching
`trusted_root.json` and client trust config, so the real sigstore-python client
signs against it (`vault sign --sigstore --trust-config`) and the real
sigstore-python verifier checks what it minted: the certificate chain, the
embedded SCT, the Rekor inclusion proof, the signed checkpoint and the signed
entry timestamp. Like the real services, Fulcio checks the identity token's
signature and the CSR's proof of possession, and Rekor checks the envelope's
signature before it logs it.

Switches make it lie on purpose: `integrated_time_shift` logs entries at a time
the signing certificate does not cover; `cert_lifetime` issues certificates
that run out within seconds.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

START = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
OIDC_ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
OIDC_ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
EMBEDDED_SCTS = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
CERT_LIFETIME = datetime.timedelta(minutes=10)  # as Fulcio: short-lived, so time must be proven


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _spki(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _log_id(key: ec.EllipticCurvePrivateKey) -> bytes:
    return hashlib.sha256(_spki(key)).digest()


def _sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _ca(name: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
        issuer_key: ec.EllipticCurvePrivateKey, path_length: int | None) -> x509.Certificate:  # fmt: skip
    usage = dict.fromkeys(
        ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
         "key_agreement", "encipher_only", "decipher_only"), False,
    )  # fmt: skip
    builder = (
        x509.CertificateBuilder().subject_name(name).issuer_name(issuer)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(START).not_valid_after(START + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.KeyUsage(key_cert_sign=True, crl_sign=True, **usage), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )  # fmt: skip
    return builder.sign(issuer_key, hashes.SHA256())


# RFC 6962 Merkle tree: what Rekor's inclusion proofs and checkpoints are over.
def _leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)  # the largest power of two below n


def _tree_hash(hashes_: list[bytes]) -> bytes:
    if len(hashes_) == 1:
        return hashes_[0]
    k = _split(len(hashes_))
    return _node_hash(_tree_hash(hashes_[:k]), _tree_hash(hashes_[k:]))


def _audit_path(m: int, hashes_: list[bytes]) -> list[bytes]:
    if len(hashes_) == 1:
        return []
    k = _split(len(hashes_))
    if m < k:
        return [*_audit_path(m, hashes_[:k]), _tree_hash(hashes_[k:])]
    return [*_audit_path(m - k, hashes_[k:]), _tree_hash(hashes_[:k])]


@dataclass
class VirtualSigstore:
    directory: Path
    name: str = "Virtual"
    issuer_url: str = "https://oidc.virtual-sigstore.test"
    integrated_time_shift: int = 0  # seconds added to Rekor's integrated time (to lie)
    cert_lifetime: datetime.timedelta = CERT_LIFETIME
    # GitHub Actions' OIDC token service (ACTIONS_ID_TOKEN_REQUEST_URL): who a CI job is.
    ci_identity: str = "https://github.com/acme/models/.github/workflows/release.yml@refs/heads/main"
    ci_request_token: str = "actions-request-token"
    url: str = ""
    trusted_root: Path = field(init=False)
    trust_config: Path = field(init=False)
    log: list[bytes] = field(default_factory=list)  # Rekor's leaves, canonical entry bodies

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        make = lambda: ec.generate_private_key(ec.SECP256R1())  # noqa: E731
        self.oidc_key, self.root_key, self.inter_key, self.ct_key, self.rekor_key = (make() for _ in range(5))
        org = x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"{self.name} Sigstore")
        root_name = x509.Name([org, x509.NameAttribute(NameOID.COMMON_NAME, f"{self.name} Fulcio root")])
        inter_name = x509.Name([org, x509.NameAttribute(NameOID.COMMON_NAME, f"{self.name} Fulcio")])
        self.root = _ca(root_name, self.root_key, root_name, self.root_key, path_length=1)
        self.intermediate = _ca(inter_name, self.inter_key, root_name, self.root_key, path_length=0)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.trusted_root = self.directory / "trusted_root.json"
        self.trust_config = self.directory / "trust_config.json"
        root_doc = self.trusted_root_document()
        self.trusted_root.write_text(json.dumps(root_doc, indent=2))
        self.trust_config.write_text(json.dumps({
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": root_doc,
            "signingConfig": self._signing_config(),
        }, indent=2))  # fmt: skip
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- what a client is given -------------------------------------------------
    def token(self, identity: str, *, email: bool = False, issuer: str | None = None,
              audience: str = "sigstore", lifetime: int = 600) -> str:  # fmt: skip
        """An identity token from this Sigstore's OIDC issuer (a CI job's, or a person's with email)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer or self.issuer_url, "aud": audience, "sub": identity,
            "iat": now, "nbf": now - 5, "exp": now + lifetime,
        }  # fmt: skip
        if email:
            claims |= {"email": identity, "email_verified": True}
        return jwt.encode(claims, self.oidc_key, algorithm="ES256")

    def ci_environment(self) -> dict[str, str | None]:
        """The variables a GitHub Actions job with `id-token: write` has, pointing here."""
        return {
            "GITHUB_ACTIONS": "true",
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{self.url}/actions/token?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.ci_request_token,
        }

    def trusted_root_document(self) -> dict[str, Any]:
        valid = {"start": START.strftime("%Y-%m-%dT%H:%M:%SZ")}

        def log(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
            return {
                "baseUrl": self.url, "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": _b64(_spki(key)), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                              "validFor": valid},
                "logId": {"keyId": _b64(_log_id(key))},
            }  # fmt: skip

        chain = [self.intermediate, self.root]
        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log(self.rekor_key)],
            "certificateAuthorities": [{
                "subject": {"organization": f"{self.name} Sigstore", "commonName": f"{self.name} Fulcio"},
                "uri": self.url,
                "certChain": {"certificates": [
                    {"rawBytes": _b64(c.public_bytes(serialization.Encoding.DER))} for c in chain
                ]},
                "validFor": valid,
            }],
            "ctlogs": [log(self.ct_key)],
            "timestampAuthorities": [],
        }  # fmt: skip

    def _signing_config(self) -> dict[str, Any]:
        def service(url: str) -> dict[str, Any]:
            return {"url": url, "majorApiVersion": 1, "operator": f"{self.name.lower()}-sigstore",
                    "validFor": {"start": START.strftime("%Y-%m-%dT%H:%M:%SZ")}}  # fmt: skip

        return {
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": [service(self.url)],
            "oidcUrls": [service(self.issuer_url)],
            "rekorTlogUrls": [service(self.url)],
            "tsaUrls": [],
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaConfig": {"selector": "ANY"},
        }

    # --- Fulcio ---------------------------------------------------------------------
    def issue(self, token: str, csr_pem: bytes) -> list[str]:
        """Check the token and the CSR, then issue a leaf with an embedded SCT: [leaf, chain…] as PEM."""
        claims = jwt.decode(
            token, self.oidc_key.public_key(), algorithms=["ES256"], audience="sigstore",
            issuer=self.issuer_url,
        )  # fmt: skip
        csr = x509.load_pem_x509_csr(csr_pem)
        if not csr.is_signature_valid:
            raise ValueError("CSR signature does not verify (no proof of possession)")
        san: x509.GeneralName = (
            x509.RFC822Name(claims["email"]) if "email" in claims
            else x509.UniformResourceIdentifier(claims["sub"])
        )  # fmt: skip
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        key = csr.public_key()
        usage = dict.fromkeys(
            ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False,
        )  # fmt: skip
        issuer = self.issuer_url.encode()
        builder = (
            x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(self.intermediate.subject)
            .public_key(key).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + self.cert_lifetime)
            .add_extension(x509.KeyUsage(digital_signature=True, **usage), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)  # type: ignore[arg-type]
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.inter_key.public_key()),
                critical=False,
            )
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
            .add_extension(x509.UnrecognizedExtension(OIDC_ISSUER_V1, issuer), critical=False)
            .add_extension(x509.UnrecognizedExtension(OIDC_ISSUER_V2, _der(0x0C, issuer)), critical=False)
        )  # fmt: skip
        # The SCT signs the certificate without its SCT extension (RFC 6962 precertificate),
        # so sign that first, then add the SCT as the last extension.
        tbs = builder.sign(self.inter_key, hashes.SHA256()).tbs_certificate_bytes
        sct = self._sct(tbs, int(now.timestamp() * 1000))
        leaf = builder.add_extension(x509.UnrecognizedExtension(EMBEDDED_SCTS, sct), critical=False).sign(
            self.inter_key, hashes.SHA256()
        )
        assert leaf.tbs_precertificate_bytes == tbs
        return [_pem(leaf), _pem(self.intermediate), _pem(self.root)]

    def _sct(self, tbs: bytes, timestamp_ms: int) -> bytes:
        issuer_key_hash = hashlib.sha256(_spki(self.inter_key)).digest()
        entry = issuer_key_hash + len(tbs).to_bytes(3, "big") + tbs
        signed = struct.pack("!BBQH", 0, 0, timestamp_ms, 1) + entry + struct.pack("!H", 0)
        sig = _sign(self.ct_key, signed)
        sct = (
            b"\x00" + _log_id(self.ct_key) + struct.pack("!QH", timestamp_ms, 0)
            + bytes([4, 3]) + struct.pack("!H", len(sig)) + sig
        )  # fmt: skip
        serialized = struct.pack("!H", len(sct)) + sct
        return _der(0x04, struct.pack("!H", len(serialized)) + serialized)

    # --- Rekor v1 ---------------------------------------------------------------------
    def log_dsse(self, request: dict[str, Any]) -> dict[str, Any]:
        """Check the proposed DSSE entry's signature, log it, and answer as Rekor v1 does."""
        proposed = request["spec"]["proposedContent"]
        envelope_text: str = proposed["envelope"]
        envelope = json.loads(envelope_text)
        verifier_pem = base64.b64decode(proposed["verifiers"][0])
        cert = x509.load_pem_x509_certificate(verifier_pem)
        payload = base64.b64decode(envelope["payload"])
        ptype = envelope["payloadType"].encode()
        pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(payload), payload)
        signatures = []
        for s in envelope["signatures"]:
            cert.public_key().verify(base64.b64decode(s["sig"]), pae, ec.ECDSA(hashes.SHA256()))  # type: ignore[call-arg, union-attr]
            signatures.append({"signature": s["sig"], "verifier": proposed["verifiers"][0]})
        body = rfc8785.dumps({
            "apiVersion": "0.0.1", "kind": "dsse",
            "spec": {
                "envelopeHash": {"algorithm": "sha256",
                                 "value": hashlib.sha256(envelope_text.encode()).hexdigest()},
                "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
                "signatures": signatures,
            },
        })  # fmt: skip
        with self._lock:
            self.log.append(body)
            index, leaves = len(self.log) - 1, [_leaf_hash(b) for b in self.log]
        root, path = _tree_hash(leaves), _audit_path(index, leaves)
        integrated = int(time.time()) + self.integrated_time_shift
        log_id = _log_id(self.rekor_key).hex()
        promise = {"body": _b64(body), "integratedTime": integrated, "logID": log_id, "logIndex": index}
        note = f"{self.name.lower()}-rekor.test - 1\n{len(leaves)}\n{_b64(root)}\n"
        note_sig = _b64(_log_id(self.rekor_key)[:4] + _sign(self.rekor_key, note.encode()))
        return {
            leaves[index].hex(): {
                "body": _b64(body), "integratedTime": integrated, "logID": log_id, "logIndex": index,
                "verification": {
                    "signedEntryTimestamp": _b64(_sign(self.rekor_key, rfc8785.dumps(promise))),
                    "inclusionProof": {
                        "logIndex": index, "treeSize": len(leaves), "rootHash": root.hex(),
                        "hashes": [h.hex() for h in path],
                        "checkpoint": f"{note}\n\u2014 {self.name.lower()}-rekor.test {note_sig}\n",
                    },
                },
            }
        }  # fmt: skip


def _handler(sigstore: VirtualSigstore) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _reply(self, status: int, doc: object) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path != "/actions/token":
                self._reply(404, {"message": f"no such endpoint {url.path}"})
            elif self.headers.get("Authorization", "") != f"bearer {sigstore.ci_request_token}":
                self._reply(401, {"message": "bad request token"})
            elif parse_qs(url.query).get("audience") != ["sigstore"]:
                self._reply(400, {"message": "audience must be sigstore"})
            else:
                self._reply(200, {"value": sigstore.token(sigstore.ci_identity)})

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            try:
                if self.path == "/api/v2/signingCert":
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    csr = base64.b64decode(request["certificateSigningRequest"])
                    chain = sigstore.issue(token, csr)
                    self._reply(200, {"signedCertificateEmbeddedSct": {"chain": {"certificates": chain}}})
                elif self.path == "/api/v1/log/entries":
                    self._reply(201, sigstore.log_dsse(request))
                else:
                    self._reply(404, {"code": 404, "message": f"no such endpoint {self.path}"})
            except jwt.PyJWTError as exc:
                self._reply(401, {"code": 401, "message": f"identity token refused: {exc}"})
            except Exception as exc:  # a refusal, as the real services answer one
                self._reply(400, {"code": 400, "message": f"{type(exc).__name__}: {exc}"})

    return Handler
