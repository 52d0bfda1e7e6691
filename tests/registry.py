"""A real OCI registry for the tests: Debian's docker-registry (CNCF distribution 2.8) on 127.0.0.1.

TLS from a throwaway CA, htpasswd (bcrypt) basic auth, storage in a temp
folder. Distribution 2.8 has no referrers API, so what vault publishes is
found through the referrers tag scheme. `scripts/setup` installs the package.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
import oras.provider
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

BINARY = "docker-registry"
USER, PASSWORD = "publisher", "s3cret-for-tests"
CA_NAME = "vault test registry CA"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_tls(directory: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key): a CA and a certificate for 127.0.0.1 it issued."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(_name(CA_NAME)).issuer_name(_name(CA_NAME))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(*(False,) * 5, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Registry:
    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        return self.root / "tls" / "ca.pem"

    @property
    def storage(self) -> Path:
        return self.root / "storage"

    def ref(self, repo: str) -> str:
        return f"oci://{self.host}/{repo}"

    def auth_file(self, user: str = USER, password: str = PASSWORD, name: str = "auth.json") -> Path:
        """A credentials file in the format podman, skopeo and docker share."""
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        path = self.root / name
        path.write_text(json.dumps({"auths": {self.host: {"auth": token}}}))
        return path

    def env(self, **more: str) -> dict[str, str]:
        return {"REGISTRY_AUTH_FILE": str(self.auth_file()), **more}

    def setup(self) -> None:
        if shutil.which(BINARY) is None:
            raise RuntimeError(
                f"{BINARY} is missing: run scripts/setup (it installs Debian's docker-registry)"
            )
        _ca, cert, key = make_tls(self.root / "tls")
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
        (self.root / "htpasswd").write_text(f"{USER}:{hashed}\n")
        self.storage.mkdir(parents=True, exist_ok=True)
        config = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(self.storage)}, "delete": {"enabled": True}},
            "http": {
                "addr": self.host,
                "secret": "tests",
                "tls": {"certificate": str(cert), "key": str(key)},
            },
            "auth": {"htpasswd": {"realm": "vault-tests", "path": str(self.root / "htpasswd")}},
        }
        (self.root / "config.yml").write_text(json.dumps(config))  # YAML is a superset of JSON

    def start(self) -> None:
        log = open(self.root / "registry.log", "ab")  # noqa: SIM115 - the child holds it
        self.process = subprocess.Popen(
            [BINARY, "serve", str(self.root / "config.yml")], stdout=log, stderr=log,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if (
                    requests.get(f"https://{self.host}/v2/", verify=str(self.ca), timeout=2).status_code
                    == 401
                ):
                    return
            except requests.RequestException:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"registry did not start: {(self.root / 'registry.log').read_text()[-2000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=20)
        self.process = None

    def blob_data(self, digest: str) -> Path:
        """Where distribution keeps a blob's bytes (for the tests that damage one)."""
        hexd = digest.removeprefix("sha256:")
        return self.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"

    def session(self) -> requests.Session:
        s = requests.Session()
        s.auth = (USER, PASSWORD)
        s.verify = str(self.ca)
        s.trust_env = False  # else REQUESTS_CA_BUNDLE in the environment overrides `verify`
        return s


@contextlib.contextmanager
def running(root: Path) -> Iterator[Registry]:
    """A registry set up and started under `root`, stopped afterwards."""
    registry = Registry(root)
    registry.setup()
    registry.start()
    try:
        yield registry
    finally:
        registry.stop()


def oras_client(registry: Registry) -> oras.provider.Registry:
    """oras-py, the independent client, logged in (its credentials also sent up front)."""
    client = oras.provider.Registry(hostname=registry.host, tls_verify=str(registry.ca), auth_backend="basic")
    client.auth.set_basic_auth(USER, PASSWORD)
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    client.set_header("Authorization", f"Basic {token}")
    return client
