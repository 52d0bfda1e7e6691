"""The fleet path against a real registry (Debian's docker-registry, CNCF distribution 2.8, over TLS
from a test CA with htpasswd auth): publish, independent clients, import and pull, and the faults."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import signal
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import vault
from tests.conftest import KeyPair, make_home, run, run_json, snapshot, write_tiny_model
from tests.registry import Registry, oras_client, running
from vault._oci.client import RegistryClient

MODEL_ARTIFACT = "application/vnd.cncf.model.manifest.v1+json"
SIGSTORE_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
VAULT_SIGNED = "application/vnd.vault.bundle.signed.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with running(tmp_path_factory.mktemp("registry")) as r:
        yield r


@pytest.fixture
def own_registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry of the test's own, for the tests that stop, kill or damage it."""
    with running(tmp_path / "registry") as r:
        yield r


class Site:
    """A connected home with a signed tiny model, and an air-gapped home that trusts its key."""

    def __init__(self, tmp_path: Path, keypair: KeyPair, registry: Registry, repo: str) -> None:
        self.tmp, self.registry = tmp_path, registry
        self.connected, self.airgapped = tmp_path / "connected", tmp_path / "airgapped"
        self.model = write_tiny_model(tmp_path / "model")
        self.commit = str(run_json("add", self.model, "--repo", "acme/tiny", home=self.connected)["commit"])  # type: ignore[index]
        run("sign", "acme/tiny", "--key", keypair.private, home=self.connected)
        run("trust", "add", "acme", "--key", keypair.public, "--scope", "acme/*", home=self.airgapped)
        self.ref = registry.ref(repo)
        self.env = registry.env()

    def publish(self, *extra: str, code: int = 0) -> dict[str, object]:
        if code:
            run("publish", "acme/tiny", self.ref, "--ca-file", self.registry.ca, *extra,
                home=self.connected, env=self.env, code=code)  # fmt: skip
            return {}
        return run_json("publish", "acme/tiny", self.ref, "--ca-file", self.registry.ca, *extra,
                        home=self.connected, env=self.env)  # type: ignore[return-value]  # fmt: skip

    def import_(self, code: int = 0, env: dict[str, str] | None = None, *extra: str) -> str:
        res = run("import", self.ref, "--ca-file", self.registry.ca, *extra, home=self.airgapped,
                  env=env or self.env, code=code)  # fmt: skip
        return res.stderr.strip() if code else res.stdout

    def refused(self, expect: str, code: int = 1, env: dict[str, str] | None = None) -> str:
        """The import says one line, and leaves the air-gapped home as it was."""
        run("list", home=self.airgapped)  # the catalog exists before the snapshot
        before = snapshot(self.airgapped)
        err = self.import_(code, env)
        assert err.startswith("vault: error: ") and "\n" not in err, err
        assert expect in err, err
        assert snapshot(self.airgapped) == before
        run("path", "acme/tiny", home=self.airgapped, code=3)
        return err


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_of(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()
    }


def manifest(registry: Registry, repo: str, reference: str) -> tuple[bytes, dict[str, object]]:
    r = registry.session().get(
        f"https://{registry.host}/v2/{repo}/manifests/{reference}", headers={"Accept": f"{MANIFEST}, {INDEX}"}
    )
    assert r.status_code == 200, r.text
    return r.content, r.json()


def delete_manifest(registry: Registry, repo: str, digest: str) -> None:
    gone = registry.session().delete(f"https://{registry.host}/v2/{repo}/manifests/{digest}")
    assert gone.status_code == 202, gone.text


def put_manifest(registry: Registry, repo: str, reference: str, doc: dict[str, object], media: str) -> str:
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    r = registry.session().put(
        f"https://{registry.host}/v2/{repo}/manifests/{reference}", data=raw, headers={"Content-Type": media}
    )
    assert r.status_code == 201, r.text
    return "sha256:" + sha256(raw)


# -- publish, and what independent clients read


def test_publish_then_import_round_trip(tmp_path: Path, keypair: KeyPair, registry: Registry) -> None:
    site = Site(tmp_path, keypair, registry, "models/round-trip:v1")
    out = site.publish()
    assert out["uploaded_blobs"] == 3 and out["reused_blobs"] == 0
    assert out["referrers_tag"] == str(out["digest"]).replace(":", "-")  # distribution 2.8: the fallback
    assert "imported acme/tiny@" in site.import_()
    served = Path(run("path", "acme/tiny", home=site.airgapped).stdout.strip())
    assert files_of(served) == files_of(site.model)
    # The second import brings nothing new.
    assert "already imported" in site.import_()


def test_republishing_sends_nothing_and_gives_the_same_digest(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    site = Site(tmp_path, keypair, registry, "models/again:v1")
    first, second = site.publish(), site.publish()
    assert second["uploaded_blobs"] == 0 and second["reused_blobs"] == 3
    assert first["digest"] == second["digest"] and first["referrers"] == second["referrers"]


def test_a_new_revision_sends_only_the_file_that_changed(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    site = Site(tmp_path, keypair, registry, "models/delta:v1")
    site.publish()
    (site.model / "config.json").write_text(json.dumps({"model_type": "tiny", "seed": 1}))
    run("add", site.model, "--repo", "acme/tiny", "--revision", "v2", home=site.connected)
    run("sign", "acme/tiny@v2", "--key", keypair.private, home=site.connected)
    out = run_json("publish", "acme/tiny@v2", registry.ref("models/delta:v2"), "--ca-file", registry.ca,
                   home=site.connected, env=site.env)  # fmt: skip
    assert out["uploaded_blobs"] == 1 and out["reused_blobs"] == 2  # type: ignore[index]


def test_the_manifest_is_modelpack_with_one_raw_layer_per_file(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    site = Site(tmp_path, keypair, registry, "models/layout:v1")
    out = site.publish()
    raw, doc = manifest(registry, "models/layout", "v1")
    assert "sha256:" + sha256(raw) == out["digest"]
    assert doc["artifactType"] == MODEL_ARTIFACT and doc["mediaType"] == MANIFEST
    assert doc["config"]["mediaType"] == "application/vnd.cncf.model.config.v1+json"  # type: ignore[index]
    layers = {d["annotations"]["org.cncf.model.filepath"]: d for d in doc["layers"]}  # type: ignore[attr-defined]
    expected = files_of(site.model)
    assert set(layers) == set(expected)
    for path, data in expected.items():
        assert layers[path]["digest"] == "sha256:" + sha256(data) and layers[path]["size"] == len(data)
    assert layers["model.safetensors"]["mediaType"] == "application/vnd.cncf.model.weight.v1.raw"
    assert layers["config.json"]["mediaType"] == "application/vnd.cncf.model.weight.config.v1.raw"
    config = (
        registry.session()
        .get(
            f"https://{registry.host}/v2/models/layout/blobs/{doc['config']['digest']}"  # type: ignore[index]
        )
        .json()
    )
    assert config["descriptor"]["revision"] == site.commit
    assert config["modelfs"]["diffIds"] == [d["digest"] for d in doc["layers"]]  # type: ignore[attr-defined]


def test_a_modelpack_client_pull_gives_the_same_tree(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    """Read as the ModelPack spec says (each layer's org.cncf.model.filepath), with plain HTTP calls."""
    site = Site(tmp_path, keypair, registry, "models/modelpack:v1")
    site.publish()
    _raw, doc = manifest(registry, "models/modelpack", "v1")
    out = tmp_path / "pulled"
    s = registry.session()
    for layer in doc["layers"]:  # type: ignore[attr-defined]
        target = out / layer["annotations"]["org.cncf.model.filepath"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(
            s.get(f"https://{registry.host}/v2/models/modelpack/blobs/{layer['digest']}").content
        )
    assert files_of(out) == files_of(site.model)


def test_oras_pulls_byte_identical_files(tmp_path: Path, keypair: KeyPair, registry: Registry) -> None:
    site = Site(tmp_path, keypair, registry, "models/oras:v1")
    site.publish()
    client = oras_client(registry)
    client.pull(target=f"{registry.host}/models/oras:v1", outdir=str(tmp_path / "oras"))
    assert files_of(tmp_path / "oras") == files_of(site.model)


def skopeo(registry: Registry, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    certs = tmp_path / "skopeo-certs"
    certs.mkdir(exist_ok=True)
    shutil.copy(registry.ca, certs / "ca.crt")
    argv = ["skopeo", *args]
    for i, a in enumerate(argv):
        if a == "@CERTS":
            argv[i] = str(certs)
        if a == "@AUTH":
            argv[i] = str(registry.auth_file())
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)


def test_skopeo_copies_byte_identical_blobs(tmp_path: Path, keypair: KeyPair, registry: Registry) -> None:
    site = Site(tmp_path, keypair, registry, "models/skopeo:v1")
    out = site.publish()
    raw = skopeo(registry, tmp_path, "inspect", "--raw", "--cert-dir", "@CERTS", "--authfile", "@AUTH",
                 f"docker://{registry.host}/models/skopeo:v1").stdout.encode()  # fmt: skip
    assert "sha256:" + sha256(raw) == out["digest"]
    dest = tmp_path / "skopeo"
    skopeo(registry, tmp_path, "copy", "--src-cert-dir", "@CERTS", "--src-authfile", "@AUTH",
           f"docker://{registry.host}/models/skopeo:v1", f"dir:{dest}")  # fmt: skip
    copied = {p.name: p.read_bytes() for p in dest.iterdir() if len(p.name) == 64}
    for data in files_of(site.model).values():
        assert copied[sha256(data)] == data


def test_skopeo_lists_the_signature_and_provenance_as_referrers(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    """What `oras discover` reads on a registry without the referrers API: the sha256-<hex> tag."""
    site = Site(tmp_path, keypair, registry, "models/referrers:v1")
    out = site.publish()
    listing = json.loads(
        skopeo(
            registry,
            tmp_path,
            "inspect",
            "--raw",
            "--cert-dir",
            "@CERTS",
            "--authfile",
            "@AUTH",
            f"docker://{registry.host}/models/referrers:{out['referrers_tag']}",
        ).stdout
    )
    assert listing["mediaType"] == INDEX
    kinds = {(d["artifactType"], d.get("annotations", {}).get("org.opencontainers.image.title")): d
             for d in listing["manifests"]}  # fmt: skip
    assert {(SIGSTORE_BUNDLE, "model.sig"), (SIGSTORE_BUNDLE, "provenance.sig"), (VAULT_SIGNED, None)} <= set(
        kinds
    )
    _raw, sig_manifest = manifest(
        registry, "models/referrers", kinds[(SIGSTORE_BUNDLE, "model.sig")]["digest"]
    )
    assert sig_manifest["subject"]["digest"] == out["digest"]  # type: ignore[index]
    layer = sig_manifest["layers"][0]  # type: ignore[index]
    signature = (
        registry.session().get(f"https://{registry.host}/v2/models/referrers/blobs/{layer['digest']}").content
    )
    bundle = tmp_path / "b.vault"
    run("bundle", "acme/tiny", "-o", bundle, home=site.connected)
    with tarfile.open(bundle) as tar:
        member = tar.extractfile(f"revisions/acme/tiny/{site.commit}/model.sig")
        assert member is not None
        assert signature == member.read()


# -- what the import refuses: one line each, and the home as it was


def test_a_flipped_byte_in_a_registry_blob_is_refused(
    tmp_path: Path, keypair: KeyPair, own_registry: Registry
) -> None:
    site = Site(tmp_path, keypair, own_registry, "models/flipped:v1")
    site.publish()
    weights = own_registry.blob_data("sha256:" + sha256((site.model / "model.safetensors").read_bytes()))
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    site.refused("model.safetensors: sha256 mismatch")


def test_a_registry_blob_longer_than_signed_is_refused(
    tmp_path: Path, keypair: KeyPair, own_registry: Registry
) -> None:
    site = Site(tmp_path, keypair, own_registry, "models/longer:v1")
    site.publish()
    config = own_registry.blob_data("sha256:" + sha256((site.model / "config.json").read_bytes()))
    config.write_bytes(config.read_bytes() + b" ")
    site.refused("config.json: the registry served over")


def test_wrong_credentials_are_one_line(tmp_path: Path, keypair: KeyPair, registry: Registry) -> None:
    site = Site(tmp_path, keypair, registry, "models/creds:v1")
    wrong = {"REGISTRY_AUTH_FILE": str(registry.auth_file(password="wrong", name="wrong.json"))}
    res = run(
        "publish", "acme/tiny", site.ref, "--ca-file", registry.ca, home=site.connected, env=wrong, code=6
    )
    assert res.stderr.count("\n") == 1 and "access denied (401)" in res.stderr
    site.publish()
    site.refused("access denied (401)", code=6, env=wrong)
    nobody = tmp_path / "empty.json"
    nobody.write_text('{"auths": {}}')
    site.refused("access denied (401)", code=6, env={"REGISTRY_AUTH_FILE": str(nobody)})


def test_credential_helpers_are_not_run(tmp_path: Path, keypair: KeyPair, registry: Registry) -> None:
    site = Site(tmp_path, keypair, registry, "models/helpers:v1")
    marker = tmp_path / "ran"
    helper = tmp_path / "bin" / "docker-credential-evil"
    helper.parent.mkdir()
    helper.write_text(f"#!/bin/sh\ntouch {marker}\n")
    helper.chmod(0o755)
    auth = tmp_path / "helpers.json"
    auth.write_text(json.dumps({"credsStore": "evil", "auths": {registry.host: {}}}))
    env = {"REGISTRY_AUTH_FILE": str(auth), "PATH": f"{helper.parent}:/usr/bin:/bin"}
    res = run(
        "publish", "acme/tiny", site.ref, "--ca-file", registry.ca, home=site.connected, env=env, code=2
    )
    assert "credential helpers are not run" in res.stderr and not marker.exists()


def test_a_registry_whose_certificate_does_not_chain_to_the_ca_is_refused(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    site = Site(tmp_path, keypair, registry, "models/tls:v1")
    site.publish()
    before = snapshot(site.airgapped)
    res = run("import", site.ref, home=site.airgapped, env=site.env, code=7)  # no --ca-file: the system's CAs
    assert "TLS failed (certificate verify failed)" in res.stderr and "--ca-file" in res.stderr
    res = run("import", site.ref, "--plain-http", home=site.airgapped, env=site.env, code=7)
    assert res.stderr.startswith("vault: error: registry ") and res.stderr.count("\n") == 1
    assert snapshot(site.airgapped) == before


def test_a_publisher_the_vault_does_not_trust_is_refused(
    tmp_path: Path,
    keypair: KeyPair,
    registry: Registry,
    make_keypair: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site = Site(tmp_path, keypair, registry, "models/untrusted:v1")
    site.publish()
    stranger = make_keypair("stranger")  # type: ignore[operator]
    other = tmp_path / "other-gap"
    run("trust", "add", "other", "--key", stranger.public, "--scope", "acme/*", home=other)
    site.airgapped = other
    fetched: list[str] = []
    real = RegistryClient.blob_stream

    def counted(self: RegistryClient, digest: str, size: int) -> Iterator[bytes]:
        fetched.append(digest)
        return real(self, digest, size)

    monkeypatch.setattr(RegistryClient, "blob_stream", counted)
    site.refused("model.sig: not signed by any trusted key")
    # Judged on the signed part alone: not one byte of the model was downloaded.
    model = {"sha256:" + sha256(data) for data in files_of(site.model).values()}
    assert fetched and not model & set(fetched)


def _tampered(registry: Registry, repo: str, digest: str, change: dict[str, str]) -> str:
    """Push a copy of the model manifest with some layers' path annotations renamed (or digests
    swapped), and a copy of vault's signed set naming it as subject, listed under its fallback tag."""
    _raw, doc = manifest(registry, repo, digest)
    for layer in doc["layers"]:  # type: ignore[attr-defined]
        path = layer["annotations"]["org.cncf.model.filepath"]
        if path in change:
            new = change[path]
            if new.startswith("sha256:"):
                layer["digest"] = new
            else:
                layer["annotations"]["org.cncf.model.filepath"] = new
                layer["annotations"]["org.opencontainers.image.title"] = new
    tampered = put_manifest(registry, repo, "v1", doc, MANIFEST)
    _raw, listing = manifest(registry, repo, digest.replace(":", "-"))
    signed = next(d for d in listing["manifests"] if d["artifactType"] == VAULT_SIGNED)  # type: ignore[attr-defined]
    _raw, signed_doc = manifest(registry, repo, signed["digest"])
    signed_doc["subject"] = {"mediaType": MANIFEST, "digest": tampered, "size": len(_raw)}
    _raw2, _doc = manifest(registry, repo, "v1")
    signed_doc["subject"]["size"] = len(_raw2)  # type: ignore[index]
    copy = put_manifest(registry, repo, "copy", signed_doc, MANIFEST)
    entry = {"mediaType": MANIFEST, "digest": copy, "size": 0, "artifactType": VAULT_SIGNED}
    entry["size"] = len(manifest(registry, repo, copy)[0])
    put_manifest(
        registry,
        repo,
        tampered.replace(":", "-"),
        {"schemaVersion": 2, "mediaType": INDEX, "manifests": [entry]},
        INDEX,
    )
    return tampered


def test_a_manifest_that_renames_a_file_is_refused(
    tmp_path: Path, keypair: KeyPair, own_registry: Registry
) -> None:
    site = Site(tmp_path, keypair, own_registry, "models/renamed:v1")
    out = site.publish()
    _tampered(own_registry, "models/renamed", str(out["digest"]), {"config.json": "generation_config.json"})
    site.refused("config.json: signed, but missing from the registry manifest")


def test_a_manifest_that_swaps_a_file_for_another_is_refused(
    tmp_path: Path, keypair: KeyPair, own_registry: Registry
) -> None:
    site = Site(tmp_path, keypair, own_registry, "models/swapped:v1")
    out = site.publish()
    other = "sha256:" + sha256((site.model / "tokenizer" / "vocab.txt").read_bytes())
    _tampered(own_registry, "models/swapped", str(out["digest"]), {"config.json": other})
    site.refused("config.json: the registry manifest's digest or size differs from the signed one")


def test_an_artifact_without_a_vault_signed_set_is_refused(
    tmp_path: Path, keypair: KeyPair, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pushed by another tool: a model with no signatures vault can judge."""
    site = Site(tmp_path, keypair, registry, "models/unsigned:v1")
    client = oras_client(registry)
    monkeypatch.chdir(site.model)  # oras-py pushes files named relative to the working directory
    client.push(target=f"{registry.host}/models/unsigned:v1", files=["config.json"])
    site.refused("registry: not a ModelPack model (artifact type None)")


def test_a_model_whose_referrers_are_gone_is_refused(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    site = Site(tmp_path, keypair, registry, "models/bare:v1")
    out = site.publish()
    listing, _doc = manifest(registry, "models/bare", str(out["referrers_tag"]))
    delete_manifest(registry, "models/bare", "sha256:" + sha256(listing))
    site.refused("no vault signature set refers to this manifest")


def test_a_registry_killed_mid_push_completes_on_a_rerun(
    tmp_path: Path, keypair: KeyPair, own_registry: Registry
) -> None:
    site = Site(tmp_path, keypair, own_registry, "models/killed:v1")

    class KillAfterFirstBlob:
        def start(self, total: int, description: str) -> None: ...

        def advance(self, n: int) -> None:
            own_registry.stop(signal.SIGKILL)

        def finish(self) -> None: ...

    with vault.open_vault(site.connected) as v, pytest.raises(vault.NetworkError, match="connection refused"):
        v.publish_registry("acme/tiny", site.ref, ca_file=own_registry.ca, auth_file=own_registry.auth_file(),
                           progress=KillAfterFirstBlob())  # fmt: skip
    own_registry.start()
    out = site.publish()
    assert out["uploaded_blobs"] == 2 and out["reused_blobs"] == 1
    assert "imported acme/tiny@" in site.import_()


def test_pull_from_a_registry_on_the_connected_side(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    """A publisher ships on a registry: the connected vault pulls it under its own trust policy."""
    site = Site(tmp_path, keypair, registry, "models/shipped:v1")
    site.publish()
    other = tmp_path / "other-connected"
    run("trust", "add", "publisher", "--key", keypair.public, "--scope", "acme/*", home=other)
    res = run("pull", site.ref, "--ca-file", registry.ca, home=other, env=site.env)
    assert res.stdout.startswith(f"pulled acme/tiny@{site.commit} (3 blobs")
    served = Path(run("path", "acme/tiny", home=other).stdout.strip())
    assert files_of(served) == files_of(site.model)
    res = run("pull", site.ref, "--revision", "v2", home=other, env=site.env, code=2)
    assert "are for the Hub, not a registry" in res.stderr


@pytest.mark.parametrize(
    "ref",
    ["oci://user:pw@127.0.0.1:5000/models/x", "oci://127.0.0.1:5000/../x", "oci://127.0.0.1:5000/Models/x",
     "oci://127.0.0.1:5000", "oci://127.0.0.1:99999/x", "oci://127.0.0.1:5000/x:bad..tag!", "oci://h/x?a=1"],
)  # fmt: skip
def test_a_malformed_registry_reference_is_a_usage_error(tmp_path: Path, ref: str) -> None:
    make_home(tmp_path / "home")
    res = run("import", ref, home=tmp_path / "home", code=2)
    assert "invalid registry reference" in res.stderr and res.stderr.count("\n") == 1


def test_publish_names_a_tag_not_a_digest(tmp_path: Path, keypair: KeyPair, registry: Registry) -> None:
    site = Site(tmp_path, keypair, registry, "models/bydigest:v1")
    site.ref = registry.ref("models/bydigest@sha256:" + "0" * 64)
    res = run("publish", "acme/tiny", site.ref, home=site.connected, env=site.env, code=2)
    assert "publish to a tag, not a digest" in res.stderr


# -- the modelcar image KServe runs


def push_blob(registry: Registry, repo: str, blob: bytes) -> str:
    s = registry.session()
    location = s.post(f"https://{registry.host}/v2/{repo}/blobs/uploads/").headers["Location"]
    location = location if location.startswith("http") else f"https://{registry.host}{location}"
    sep = "&" if "?" in location else "?"
    assert s.put(f"{location}{sep}digest=sha256:{sha256(blob)}", data=blob).status_code == 201
    return "sha256:" + sha256(blob)


def push_base_image(
    registry: Registry,
    repo: str,
    docker: bool = False,
    files: dict[str, bytes] | None = None,
    architecture: str = "amd64",
    tag: str = "1",
) -> str:
    """A one-layer base image (by default /bin/hello.txt), in OCI or Docker schema 2 form; its digest."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (
            files if files is not None else {"bin/hello.txt": b"hello from the base\n"}
        ).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    layer = buf.getvalue()
    rootfs = {"type": "layers", "diff_ids": ["sha256:" + sha256(layer)]}
    config = json.dumps(
        {"architecture": architecture, "os": "linux", "config": {}, "rootfs": rootfs}
    ).encode()
    docker_types = "distribution.manifest.v2+json", "container.image.v1+json", "image.rootfs.diff.tar"
    oci_types = MANIFEST, "application/vnd.oci.image.config.v1+json", "application/vnd.oci.image.layer.v1.tar"
    media = tuple(f"application/vnd.docker.{t}" for t in docker_types) if docker else oci_types
    doc = {
        "schemaVersion": 2, "mediaType": media[0],
        "config": {"mediaType": media[1], "digest": push_blob(registry, repo, config), "size": len(config)},
        "layers": [{"mediaType": media[2], "digest": push_blob(registry, repo, layer), "size": len(layer)}],
    }  # fmt: skip
    return put_manifest(registry, repo, tag, doc, media[0])


@pytest.mark.parametrize("docker", [False, True], ids=["oci-base", "docker-base"])
def test_a_modelcar_holds_the_model_under_models_on_the_base(
    tmp_path: Path, keypair: KeyPair, registry: Registry, docker: bool
) -> None:
    base_repo = f"base/{'docker' if docker else 'oci'}"
    push_base_image(registry, base_repo, docker)
    site = Site(tmp_path, keypair, registry, f"models/car-{'docker' if docker else 'oci'}:v1")
    base = registry.ref(f"{base_repo}:1")
    out = site.publish("--modelcar", "--base", base)
    again = site.publish("--modelcar", "--base", base)
    assert out["modelcar"] == site.ref + "-modelcar" and out["modelcar_digest"] == again["modelcar_digest"]
    dest = tmp_path / "car"
    skopeo(registry, tmp_path, "copy", "--src-cert-dir", "@CERTS", "--src-authfile", "@AUTH",
           f"docker://{registry.host}/{site.ref.split('/', 3)[3]}-modelcar", f"dir:{dest}")  # fmt: skip
    image = json.loads((dest / "manifest.json").read_text())
    rootfs = tmp_path / "rootfs"
    for layer in image["layers"]:  # applied in order, as a container runtime does
        with tarfile.open(dest / layer["digest"].removeprefix("sha256:")) as tar:
            tar.extractall(rootfs, filter="data")
    assert (rootfs / "bin" / "hello.txt").read_text() == "hello from the base\n"
    assert files_of(rootfs / "models") == {**files_of(site.model), **files_of_signed(rootfs / "models")}
    config = json.loads((dest / image["config"]["digest"].removeprefix("sha256:")).read_text())
    assert config["rootfs"]["diff_ids"][-1] == image["layers"][-1]["digest"]
    # The init container's check, on the image's own /models.
    run("trust", "add", "acme", "--key", keypair.public, "--scope", "acme/*", home=tmp_path / "policy-home")
    run("keygen", "-o", tmp_path / "site")
    run("trust", "export", "-o", tmp_path / "policy.json", "--key", tmp_path / "site.pem",
        home=tmp_path / "policy-home")  # fmt: skip
    res = run("check", rootfs / "models", "--policy", tmp_path / "policy.json", "--policy-key",
              tmp_path / "site.pub.pem")  # fmt: skip
    assert res.stdout.startswith(f"OK: {rootfs / 'models'} is acme/tiny@{site.commit}")


def files_of_signed(models: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(models)): p.read_bytes()
        for p in sorted((models / ".vault").rglob("*"))
        if p.is_file()
    }


def test_a_revoked_revision_is_not_published(tmp_path: Path, keypair: KeyPair, registry: Registry) -> None:
    site = Site(tmp_path, keypair, registry, "models/revoked:v1")
    run("revoke", "acme/tiny", "--reason", "poisoned", "--key", keypair.private, home=site.connected)
    res = run(
        "publish", "acme/tiny", site.ref, "--ca-file", registry.ca, home=site.connected, env=site.env, code=3
    )
    assert "revoked" in res.stderr and res.stderr.count("\n") == 1


def test_a_store_blob_that_rotted_is_refused_by_the_registry_and_named(
    tmp_path: Path, keypair: KeyPair, own_registry: Registry
) -> None:
    site = Site(tmp_path, keypair, own_registry, "models/rotted:v1")
    sha = sha256((site.model / "config.json").read_bytes())
    blob = site.connected / "store" / "blobs" / "sha256" / sha[:2] / sha[2:]
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes()[:-1] + b"!")
    res = run("publish", "acme/tiny", site.ref, "--ca-file", own_registry.ca, home=site.connected,
              env=site.env, code=1)  # fmt: skip
    assert f"store: blob {sha[:16]}… does not match its digest" in res.stderr and "vault scrub" in res.stderr
    # Nothing names the model under the tag: a half-published revision is not listed.
    assert (
        own_registry.session().get(f"https://{own_registry.host}/v2/models/rotted/manifests/v1").status_code
        == 404
    )
