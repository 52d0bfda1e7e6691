"""The registry and node path against what an outside review got past (each now refused), and the
hostile servers it needs: a fake TLS registry that answers as the test tells it."""

from __future__ import annotations

import base64
import http.server
import io
import json
import shutil
import socketserver
import ssl
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import Result

from tests.conftest import KeyPair, run, run_json
from tests.registry import PASSWORD, USER, Registry, free_port, running
from tests.test_node_check import Node
from tests.test_registry import (
    INDEX,
    MANIFEST,
    Site,
    delete_manifest,
    manifest,
    push_base_image,
    push_blob,
    put_manifest,
    sha256,
)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with running(tmp_path_factory.mktemp("registry")) as r:
        yield r


def repoint(registry: Registry, repo: str, old: str, doc: dict[str, object]) -> str:
    """Put `doc` under the tag v1, with copies of every referrer of `old` naming it as subject."""
    new = put_manifest(registry, repo, "v1", doc, MANIFEST)
    size = len(manifest(registry, repo, new)[0])
    _raw, listing = manifest(registry, repo, old.replace(":", "-"))
    for i, entry in enumerate(listing["manifests"]):  # type: ignore[arg-type]
        _r, ref = manifest(registry, repo, entry["digest"])
        ref["subject"] = {"mediaType": MANIFEST, "digest": new, "size": size}
        entry["digest"] = put_manifest(registry, repo, f"copy{i}", ref, MANIFEST)
        entry["size"] = len(manifest(registry, repo, entry["digest"])[0])
    put_manifest(registry, repo, new.replace(":", "-"), listing, INDEX)
    return new


def test_a_manifest_whose_titles_or_annotations_differ_from_what_was_signed_is_refused(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    """oras pull names files by org.opencontainers.image.title: swapped titles would hand a client
    the weights as config.json. The manifest must be the one vault publishes, byte for byte."""
    site = Site(tmp_path, keypair, registry, "hostile/titles:v1")
    out = site.publish()
    _raw, doc = manifest(registry, "hostile/titles", "v1")
    a, b = doc["layers"][0]["annotations"], doc["layers"][1]["annotations"]  # type: ignore[index]
    title = "org.opencontainers.image.title"
    a[title], b[title] = b[title], a[title]
    repoint(registry, "hostile/titles", str(out["digest"]), doc)
    site.refused("the manifest is not the one vault publishes for acme/tiny@")


def test_a_manifest_with_another_revision_annotation_is_refused(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    site = Site(tmp_path, keypair, registry, "hostile/annotation:v1")
    out = site.publish()
    _raw, doc = manifest(registry, "hostile/annotation", "v1")
    doc["annotations"]["org.opencontainers.image.revision"] = "0" * 40  # type: ignore[index]
    repoint(registry, "hostile/annotation", str(out["digest"]), doc)
    site.refused("the manifest is not the one vault publishes")


@pytest.mark.parametrize("planted", ["modeling_evil.py", "revisions/big.bin"])
def test_a_file_in_the_signed_set_folder_that_nobody_signed_is_refused(
    tmp_path: Path, keypair: KeyPair, registry: Registry, planted: str
) -> None:
    node = Node(tmp_path, keypair, registry, f"hostile/dotvault-{planted.count('/')}:v1")
    d = node.pull()
    (d / ".vault" / planted).write_text("import os\n")
    assert f".vault/{planted}: not part of the signed set" in node.check(d, code=1)


def test_a_link_in_the_signed_set_folder_is_refused(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    node = Node(tmp_path, keypair, registry, "hostile/dotvault-link:v1")
    d = node.pull()
    index = d / ".vault" / "vault-bundle.json"
    (d / "index-copy.json").write_bytes(index.read_bytes())
    index.unlink()
    index.symlink_to(d / "index-copy.json")
    assert ".vault/vault-bundle.json: not a regular file" in node.check(d, code=1)


def test_a_modelcar_base_cannot_plant_files_under_models_vault(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    push_base_image(registry, "base/planted", files={"models/.vault/planted.py": b"import os\n"})
    node = Node(tmp_path, keypair, registry, "hostile/car:v1")
    run("publish", "acme/tiny", node.ref, "--ca-file", registry.ca, "--modelcar", "--base",
        registry.ref("base/planted:1"), home=node.connected, env=node.env)  # fmt: skip
    _raw, image = manifest(registry, "hostile/car", "v1-modelcar")
    root = tmp_path / "rootfs"
    s = registry.session()
    for layer_doc in image["layers"]:  # type: ignore[index]
        blob = s.get(f"https://{registry.host}/v2/hostile/car/blobs/{layer_doc['digest']}").content
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            tar.extractall(root, filter="data")
    assert ".vault/planted.py: not part of the signed set" in node.check(root / "models", code=1)


def test_a_signed_file_under_vault_is_refused_at_publish(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    site = Site(tmp_path, keypair, registry, "hostile/dotmodel:v1")
    model = tmp_path / "with-dot-vault"
    shutil.copytree(site.model, model)
    (model / ".vault").mkdir()
    (model / ".vault" / "notes.json").write_text("{}")
    run("add", model, "--repo", "acme/dot", home=site.connected)
    run("sign", "acme/dot", "--key", keypair.private, home=site.connected)
    res = run(
        "publish", "acme/dot", site.ref, "--ca-file", registry.ca, home=site.connected, env=site.env, code=2
    )
    assert ".vault/notes.json is under .vault/, where a node keeps the signed set" in res.stderr


def test_a_failed_publish_moves_no_tag(tmp_path: Path, keypair: KeyPair, registry: Registry) -> None:
    """Junk at the next revision's fallback tag stops the publish before v1 moves off the verified one."""
    site = Site(tmp_path, keypair, registry, "hostile/junkfallback:v1")
    first = site.publish()
    (site.model / "config.json").write_text(json.dumps({"model_type": "tiny", "seed": 7}))
    run("add", site.model, "--repo", "acme/tiny", "--revision", "v2", home=site.connected)
    run("sign", "acme/tiny@v2", "--key", keypair.private, home=site.connected)
    probe = run_json("publish", "acme/tiny@v2", registry.ref("hostile/probe:v1"), "--ca-file", registry.ca,
                     home=site.connected, env=site.env)["digest"]  # type: ignore[index]  # fmt: skip
    empty = push_blob(registry, "hostile/junkfallback", b"{}")
    oci_config = "application/vnd.oci.image.config.v1+json"
    junk = {"schemaVersion": 2, "mediaType": MANIFEST, "layers": [],
            "config": {"mediaType": oci_config, "digest": empty, "size": 2}}  # fmt: skip
    put_manifest(registry, "hostile/junkfallback", str(probe).replace(":", "-"), junk, MANIFEST)
    res = run("publish", "acme/tiny@v2", site.ref, "--ca-file", registry.ca, home=site.connected,
              env=site.env, code=1)  # fmt: skip
    assert "holds something other than a referrers index; remove it" in res.stderr
    raw, _doc = manifest(registry, "hostile/junkfallback", "v1")
    assert "sha256:" + sha256(raw) == first["digest"]
    assert "imported acme/tiny@" in site.import_()


def test_a_node_that_expects_a_model_refuses_another_behind_the_same_tag(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    node = Node(tmp_path, keypair, registry, "hostile/tagclash:v1")
    other = tmp_path / "other-model"
    shutil.copytree(node.model, other)
    (other / "config.json").write_text(json.dumps({"model_type": "other"}))
    added = run_json("add", other, "--repo", "acme/other", home=node.connected)
    run("sign", "acme/other", "--key", node.keypair.private, home=node.connected)
    run("publish", "acme/other", node.ref, "--ca-file", registry.ca, home=node.connected, env=node.env)
    assert "not the expected model acme/tiny" in node.check(node.ref, "--expect", "acme/tiny", code=1)
    assert node.check(node.ref, "--expect", "acme/other").startswith(f"OK: {node.ref} is acme/other@")
    assert node.check(node.ref, "--expect", f"acme/other@{added['commit']}").startswith("OK: ")  # type: ignore[index]
    assert "not the expected commit" in node.check(node.ref, "--expect", f"acme/other@{'0' * 40}", code=1)
    # A ref is what the policy file says it is: the site vault has never held acme/other.
    assert "the policy file does not say which revision acme/other@main is" in node.check(
        node.ref, "--expect", "acme/other@main", code=1
    )


def test_a_tag_moved_back_to_an_older_release_is_refused_by_ref(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    """Every release's signed provenance says `main` named it; the policy file says which one is main now."""
    node = Node(tmp_path, keypair, registry, "hostile/rollback:v1")
    old_manifest, _doc = manifest(registry, "hostile/rollback", "v1")
    (node.model / "config.json").write_text(json.dumps({"model_type": "tiny", "seed": 2}))
    newer = str(run_json("add", node.model, "--repo", "acme/tiny", home=node.connected)["commit"])  # type: ignore[index]
    run("sign", "acme/tiny", "--key", node.keypair.private, home=node.connected)
    run("bundle", "acme/tiny", "-o", tmp_path / "newer.vault", home=node.connected)
    run("import", tmp_path / "newer.vault", home=node.site)
    node.export()
    run("publish", "acme/tiny", node.ref, "--ca-file", registry.ca, home=node.connected, env=node.env)
    assert node.check(node.ref, "--expect", "acme/tiny@main").startswith(
        f"OK: {node.ref} is acme/tiny@{newer}"
    )
    put_manifest(registry, "hostile/rollback", "v1", json.loads(old_manifest), MANIFEST)  # the tag moved back
    err = node.check(node.ref, "--expect", "acme/tiny@main", code=1)
    assert f"acme/tiny@main is {newer} in the policy file, not this revision" in err


def test_a_killed_checks_leftovers_do_not_block_the_next(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    """An init container killed mid-download restarts on the same emptyDir."""
    node = Node(tmp_path, keypair, registry, "hostile/restart:v1")
    leftover = node.dir / ".vault-check-1-deadbeef"
    leftover.mkdir(parents=True)
    (leftover / "model.safetensors").write_bytes(b"half")
    node.pull()
    assert not leftover.exists()
    assert (node.dir / "config.json").is_file()


def test_a_base_index_without_linux_amd64_is_refused(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    digest = push_base_image(registry, "base/arm", files={}, architecture="arm64", tag="arm64")
    size = len(manifest(registry, "base/arm", digest)[0])
    entry = {
        "mediaType": MANIFEST,
        "digest": digest,
        "size": size,
        "platform": {"architecture": "arm64", "os": "linux"},
    }
    put_manifest(
        registry, "base/arm", "1", {"schemaVersion": 2, "mediaType": INDEX, "manifests": [entry]}, INDEX
    )
    site = Site(tmp_path, keypair, registry, "hostile/armcar:v1")
    res = run("publish", "acme/tiny", site.ref, "--ca-file", registry.ca, "--modelcar", "--base",
              registry.ref("base/arm:1"), home=site.connected, env=site.env, code=1)  # fmt: skip
    assert "has no linux/amd64 image" in res.stderr


# -- a fake TLS registry, for answers a real one never gives


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def log_message(self, *a: object) -> None: ...

    def _any(self) -> None:
        _Recorder.seen.append((self.path, self.headers.get("Authorization")))
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_PATCH = do_PUT = do_GET = do_POST = _any


@pytest.fixture
def fake_registry(registry: Registry) -> Iterator[Callable[[type[http.server.BaseHTTPRequestHandler]], int]]:
    """Start a handler class as a TLS server with the test CA's certificate; returns its port."""
    servers: list[socketserver.TCPServer] = []

    def start(handler: type[http.server.BaseHTTPRequestHandler], tls: bool = True) -> int:
        port = free_port()
        server = socketserver.ThreadingTCPServer(("127.0.0.1", port), handler)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(registry.root / "tls" / "server.pem", registry.root / "tls" / "server.key")
            server.socket = ctx.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return port

    yield start  # type: ignore[misc]
    for server in servers:
        server.shutdown()
        server.server_close()


def _publish_to_fake(tmp_path: Path, keypair: KeyPair, registry: Registry, port: int) -> Result:
    """A publish to the fake registry on `port`, with credentials for it; it must fail (7)."""
    site = Site(tmp_path, keypair, registry, "hostile/fake:v1")
    _Recorder.seen.clear()
    return run("publish", "acme/tiny", f"oci://127.0.0.1:{port}/models/fake:v1", "--ca-file", registry.ca,
               home=site.connected, env=_auth_for(tmp_path, port), code=7)  # fmt: skip


def _auth_for(tmp_path: Path, port: int) -> dict[str, str]:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    auth = tmp_path / "fake-auth.json"
    auth.write_text(json.dumps({"auths": {f"127.0.0.1:{port}": {"auth": token}}}))
    return {"REGISTRY_AUTH_FILE": str(auth)}


@pytest.mark.parametrize("elsewhere", ["plain http, another port", "https, another host name"])
def test_credentials_never_follow_an_upload_location_off_the_registry(
    tmp_path: Path, keypair: KeyPair, registry: Registry, fake_registry: Callable[..., int], elsewhere: str
) -> None:
    recorder = fake_registry(_Recorder, tls=False)
    where = (
        f"http://127.0.0.1:{recorder}" if elsewhere.startswith("plain") else f"https://localhost:{recorder}"
    )

    class SendsUploadsElsewhere(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None: ...

        def do_HEAD(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            self.send_response(202)
            self.send_header("Location", f"{where}/upload/1")
            self.send_header("Content-Length", "0")
            self.end_headers()

    res = _publish_to_fake(tmp_path, keypair, registry, fake_registry(SendsUploadsElsewhere))
    assert "refused (credentials go to the registry named only)" in res.stderr
    assert _Recorder.seen == []


def test_a_registry_that_trickles_is_given_up_on_at_the_timeout(
    tmp_path: Path, keypair: KeyPair, registry: Registry, fake_registry: Callable[..., int]
) -> None:
    class Trickles(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None: ...

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", MANIFEST)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(200):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass

    port = fake_registry(Trickles)
    node = Node(tmp_path, keypair, registry, "hostile/trickle:v1")
    err = node.check(
        f"oci://127.0.0.1:{port}/models/slow:v1", "--timeout", "1", "--into", tmp_path / "n", code=7
    )
    assert "within --timeout" in err


def test_a_registry_that_trickles_its_headers_is_given_up_on_at_the_timeout(
    tmp_path: Path, keypair: KeyPair, registry: Registry, fake_registry: Callable[..., int]
) -> None:
    """No per-read timeout catches a status line sent a byte at a time."""

    class TricklesHeaders(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            try:
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 400:
                    self.request.sendall(bytes([byte]))
                    time.sleep(0.05)
            except OSError:
                pass

    port = fake_registry(TricklesHeaders)
    node = Node(tmp_path, keypair, registry, "hostile/trickle-headers:v1")
    err = node.check(f"oci://127.0.0.1:{port}/models/slow:v1", "--timeout", "1", code=7)
    # The alarm's own line: had the check waited for the server to give up, it would say "broke off".
    assert "not done within --timeout (1 s)" in err


def test_a_token_challenge_is_named(
    tmp_path: Path, keypair: KeyPair, registry: Registry, fake_registry: Callable[..., int]
) -> None:
    class WantsTokens(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None: ...

        def do_GET(self) -> None:
            self.send_response(401)
            self.send_header(
                "WWW-Authenticate", 'Bearer realm="https://auth.example/token",service="registry"'
            )
            self.send_header("Content-Length", "0")
            self.end_headers()

    port = fake_registry(WantsTokens)
    node = Node(tmp_path, keypair, registry, "hostile/token:v1")
    err = node.check(f"oci://127.0.0.1:{port}/models/t:v1", code=6)
    assert "asks for token (Bearer) authentication" in err


def test_a_listed_referrer_that_is_missing_is_a_verification_refusal(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    site = Site(tmp_path, keypair, registry, "hostile/dangling:v1")
    out = site.publish()
    _raw, listing = manifest(registry, "hostile/dangling", str(out["referrers_tag"]))
    signed = next(e for e in listing["manifests"] if e["artifactType"].startswith("application/vnd.vault"))  # type: ignore[attr-defined]
    delete_manifest(registry, "hostile/dangling", signed["digest"])
    site.refused("is listed but missing")


def test_nothing_from_requests_environment_reaches_the_registry(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    """Only the auth file's credentials are sent (never ~/.netrc's), and only the CAs named are
    trusted (never REQUESTS_CA_BUNDLE's)."""
    site = Site(tmp_path, keypair, registry, "hostile/environment:v1")
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login {USER} password {PASSWORD}\n")
    netrc.chmod(0o600)
    empty = tmp_path / "no-auths.json"
    empty.write_text('{"auths": {}}')
    res = run("publish", "acme/tiny", site.ref, "--ca-file", registry.ca, home=site.connected,
              env={"NETRC": str(netrc), "REGISTRY_AUTH_FILE": str(empty)}, code=6)  # fmt: skip
    assert "access denied (401)" in res.stderr
    res = run("publish", "acme/tiny", site.ref, home=site.connected,
              env={**site.env, "REQUESTS_CA_BUNDLE": str(registry.ca)}, code=7)  # fmt: skip
    assert "TLS failed (certificate verify failed)" in res.stderr


def test_an_upload_is_never_redirected(
    tmp_path: Path, keypair: KeyPair, registry: Registry, fake_registry: Callable[..., int]
) -> None:
    recorder = fake_registry(_Recorder, tls=False)

    class RedirectsUploads(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None: ...

        def _answer(self, code: int, **headers: str) -> None:
            self.send_response(code)
            for name, value in {**headers, "Content-Length": "0"}.items():
                self.send_header(name, value)
            self.end_headers()

        def do_HEAD(self) -> None:
            self._answer(404)

        def do_POST(self) -> None:
            self._answer(202, Location="/v2/models/r/blobs/uploads/1")

        def do_PATCH(self) -> None:
            self._answer(307, Location=f"http://127.0.0.1:{recorder}/stolen")

    res = _publish_to_fake(tmp_path, keypair, registry, fake_registry(RedirectsUploads))
    assert "answered 307" in res.stderr
    assert _Recorder.seen == []


def test_a_registry_host_is_matched_whatever_its_case(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    site = Site(tmp_path, keypair, registry, "hostile/case:v1")
    upper = site.ref.replace("127.0.0.1", "LOCALHOST")
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    auth = tmp_path / "case-auth.json"
    auth.write_text(json.dumps({"auths": {f"localhost:{registry.port}": {"auth": token}}}))
    out = run_json("publish", "acme/tiny", upper, "--ca-file", registry.ca, home=site.connected,
                   env={"REGISTRY_AUTH_FILE": str(auth)})  # fmt: skip
    assert str(out["reference"]).startswith(f"oci://localhost:{registry.port}/")  # type: ignore[index]


def test_what_a_registry_says_reaches_the_terminal_as_printable_text(
    tmp_path: Path, keypair: KeyPair, registry: Registry, fake_registry: Callable[..., int]
) -> None:
    class Says(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None: ...

        def do_GET(self) -> None:
            body = json.dumps(
                {"errors": [{"code": "DENIED", "message": "\x1b]0;owned\x07\nvault: ok"}]}
            ).encode()
            self.send_response(500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    port = fake_registry(Says)
    node = Node(tmp_path, keypair, registry, "hostile/says:v1")
    err = node.check(f"oci://127.0.0.1:{port}/models/s:v1", code=7)
    assert "\x1b" not in err and "\x07" not in err and "DENIED ?]0;owned??vault: ok" in err


def test_a_directory_that_is_not_there_is_not_found(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    node = Node(tmp_path, keypair, registry, "hostile/missing:v1")
    assert "no such directory" in node.check(tmp_path / "nowhere", code=3)


def test_a_signed_set_folder_that_names_too_much_is_refused_before_it_is_all_read(
    tmp_path: Path, keypair: KeyPair, registry: Registry
) -> None:
    """The index is unsigned: it can name many large entries. They are capped in all, as in a bundle."""
    node = Node(tmp_path, keypair, registry, "hostile/toomuch:v1")
    d = node.pull()
    index_path = d / ".vault" / "vault-bundle.json"
    index = json.loads(index_path.read_bytes())
    names = [f"revocations/acme/tiny/{node.commit}/{i:016x}.sig" for i in range(5)]
    index["revocations"] = names
    index_path.write_text(json.dumps(index))
    for name in names:
        (d / ".vault" / name).parent.mkdir(parents=True, exist_ok=True)
        (d / ".vault" / name).write_bytes(b" " * (7 << 20))
    assert f"signature entries exceed {32 << 20} bytes in all" in node.check(d, code=1)
