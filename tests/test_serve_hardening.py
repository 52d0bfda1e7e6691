"""`vault serve` under hostile clients: bad ranges, idle and trickling connections, path tricks.

Every bad request gets a correct HTTP answer, and no client can stop the
server answering the others.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.conftest import KeyPair, Transfer, make_transfer, run, write_tiny_model

IDLE = 1.5


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Transfer, int, str]]:
    tmp = tmp_path_factory.mktemp("served")
    run("keygen", "-o", tmp / "k")
    transfer = make_transfer(tmp, write_tiny_model(tmp / "model"), KeyPair(tmp / "k.pem", tmp / "k.pub.pem"))
    run("import", transfer.bundle, home=transfer.airgapped)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vault", "--home", str(transfer.airgapped), "serve", "--port", "0", "--quiet",
         "--idle-timeout", str(IDLE)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    port = int(re.search(r"127\.0\.0\.1:(\d+)", banner).group(1))  # type: ignore[union-attr]
    yield transfer, port, banner
    proc.terminate()
    proc.communicate(timeout=10)


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_it_says_where_it_listens(served: tuple[Transfer, int, str]) -> None:
    _t, port, banner = served
    assert f"http://127.0.0.1:{port}" in banner and "reachable from this host only" in banner


@pytest.mark.parametrize(
    "rng",
    [
        "bytes=" + "9" * 5000 + "-",
        "bytes=0-" + "9" * 30,
        "bytes=5-2",
        "bytes=-0",
        "bytes=0-1,4-5",
        "bytes=abc",
        "items=0-1",
        "bytes=99999-",
    ],
)
def test_bad_ranges_get_416_and_the_server_goes_on(served: tuple[Transfer, int, str], rng: str) -> None:
    t, port, _b = served
    path = f"/{t.repo_id}/resolve/main/config.json"
    assert _get(port, path, {"Range": rng})[0] == 416
    status, body = _get(port, path)
    assert status == 200 and body == b'{"model_type": "tiny", "seed": 0}'


@pytest.mark.parametrize(
    "path",
    [
        "/../../etc/passwd",
        "/acme/tiny/resolve/main/../../../../etc/passwd",
        "/acme/tiny/resolve/main/%2e%2e/x",
        "/api/models/acme%2Ftiny",
        "/acme/tiny/resolve/main/%00",
        "/api/models/acme/tiny/tree/main/..%2F..",
        "/acme/tiny/resolve/" + "a" * 5000 + "/config.json",
        "/api/models/" + "%ff" * 100,
    ],
)
def test_path_tricks_get_a_404(served: tuple[Transfer, int, str], path: str) -> None:
    _t, port, _b = served
    status, body = _get(port, path)
    assert status == 404 and "error" in json.loads(body)


def test_idle_and_trickling_clients_do_not_stop_the_others(served: tuple[Transfer, int, str]) -> None:
    t, port, _b = served
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
    slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(16)]
    for s in slow:
        s.sendall(b"GET /api/models/acme/tiny HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
    try:
        status, body = _get(port, f"/api/models/{t.repo_id}")
        assert status == 200 and json.loads(body)["sha"] == t.commit
        time.sleep(IDLE * 2)
        for s in idle + slow:
            s.settimeout(10)
            assert s.recv(1) == b"", "an idle connection outlived the idle timeout"
    finally:
        for s in idle + slow:
            s.close()
    assert _get(port, f"/api/models/{t.repo_id}")[0] == 200
