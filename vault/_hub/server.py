"""`vault serve`: a read-only Hub-compatible HTTP endpoint over the catalog and store.

Any client built on `huggingface_hub` (vLLM, transformers, TGI's downloader)
works unchanged with `HF_ENDPOINT=http://host:port`. Only what `hub_model`
exposes is served: catalogued, available, verified revisions. Files stream
from the read-only store with `sendfile`, honouring `Range`; nothing is ever
written. There is never a Xet hint, so clients use plain HTTP.
"""

from __future__ import annotations

import errno
import json
import re
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from vault._hub.metadata import HubEntry
from vault._hub.model_view import hub_model
from vault._statements.refs import Ref, is_commit
from vault.errors import NotFoundError, UsageError
from vault.status import AVAILABLE

if TYPE_CHECKING:
    from vault._home import Home

_INFO = re.compile(r"/api/models/([^/]+/[^/]+?)(?:/revision/(.+))?")
_TREE = re.compile(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?")
_RESOLVE = re.compile(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)")
_RANGE = re.compile(r"bytes=([0-9]{0,19})-([0-9]{0,19})")  # longer numbers are past any file: 416
IDLE_TIMEOUT = 30.0  # seconds a connection may sit idle or trickle a request (slowloris)


class NotFound(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Withheld(Exception):
    """A revision the vault holds but will not serve (revoked, damaged): the client is told why.

    Sent as a revision the Hub does not have (404, `X-Error-Code:
    RevisionNotFound`) with the reason in `X-Error-Message` (HEAD has no
    body) and in the body: huggingface_hub raises RevisionNotFoundError from
    `hf_hub_download`, `snapshot_download` and `model_info` alike and prints
    the reason under it, instead of "repository not found, are you
    authenticated" (a 403 would be swallowed into "check your connection").
    """


def _header_text(text: str) -> str:
    """A reason fit for a header: printable ASCII only (no CR/LF can split the response)."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)


class HubRequestHandler(BaseHTTPRequestHandler):
    vault: Home
    log_requests = True
    ui = True  # the catalog pages for people (`vault serve --no-ui` leaves only the Hub API)
    protocol_version = "HTTP/1.1"
    server_version = "vault-serve"
    timeout = IDLE_TIMEOUT  # socket timeout: a silent or slow client loses its thread, not the server

    def log_message(self, fmt: str, *args: Any) -> None:
        if self.log_requests:
            sys.stderr.write(f"{self.address_string()} {fmt % args}\n")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        try:
            if self.ui and (url.path == "/" or url.path.startswith("/ui/")):
                return self._ui(url.path)
            if m := _RESOLVE.fullmatch(url.path):
                return self._resolve(unquote(m.group(1)), unquote(m.group(2)), unquote(m.group(3)))
            if m := _TREE.fullmatch(url.path):
                recursive = parse_qs(url.query).get("recursive", ["false"])[0].lower() in ("1", "true")
                return self._tree(
                    unquote(m.group(1)), unquote(m.group(2)), unquote(m.group(3) or ""), recursive
                )
            if m := _INFO.fullmatch(url.path):
                return self._info(unquote(m.group(1)), unquote(m.group(2) or "main"))
            raise NotFound("", f"no route for {url.path}")
        except NotFound as exc:
            self._send_json(404, {"error": str(exc)}, {"X-Error-Code": exc.code} if exc.code else {})
        except Withheld as exc:
            headers = {"X-Error-Code": "RevisionNotFound", "X-Error-Message": _header_text(str(exc))}
            self._send_json(404, {"error": str(exc)}, headers)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # one bad request must not cost the server; the client gets a 500
            self.log_error("%s", f"{type(exc).__name__}: {exc}")
            self._send_json(500, {"error": "internal error"}, {})

    # -- lookups -----------------------------------------------------------

    def _revision(self, repo_id: str, rev: str) -> tuple[str, list[HubEntry]]:
        with self.vault.session() as s:
            model = hub_model(s, self.vault.store, repo_id)
        commit = None if model is None else model.refs.get(rev) or (rev if is_commit(rev) else None)
        if model is None or commit is None or commit not in model.revisions:
            self._why_withheld(repo_id, rev)
        if model is None or not model.revisions:
            raise NotFound("RepoNotFound", f"Repository {repo_id} not found")
        if commit is None or commit not in model.revisions:
            raise NotFound("RevisionNotFound", f"Invalid rev id: {rev}")
        return commit, model.revisions[commit]

    def _why_withheld(self, repo_id: str, rev: str) -> None:
        """Raise Withheld when the vault holds the revision but will not hand it out."""
        from vault._catalog.reads import find_revision

        ref = Ref(repo_id, rev)
        try:
            held = self.vault.read(lambda r: find_revision(r, ref, any_status=True))
        except NotFoundError:
            return
        if held.status != AVAILABLE:
            try:
                self.vault.read(lambda r: find_revision(r, ref))
            except NotFoundError as exc:
                raise Withheld(str(exc)) from None

    # -- routes --------------------------------------------------------------

    def _info(self, repo_id: str, rev: str) -> None:
        commit, entries = self._revision(repo_id, rev)
        info = {"_id": repo_id, "id": repo_id, "modelId": repo_id, "sha": commit, "private": False,
                "disabled": False, "gated": False, "tags": [],
                "siblings": [{"rfilename": e.path} for e in entries]}  # fmt: skip
        self._send_json(200, info, {"X-Repo-Commit": commit})

    def _tree(self, repo_id: str, rev: str, prefix: str, recursive: bool) -> None:
        commit, entries = self._revision(repo_id, rev)
        base = prefix.strip("/")
        under = [e for e in entries if not base or e.path.startswith(base + "/")]
        if base and not under:
            raise NotFound("EntryNotFound", f"{base} does not exist at {commit}")
        out: list[dict[str, Any]] = []
        dirs: set[str] = set()
        for e in under:
            rel = e.path[len(base) + 1 :] if base else e.path
            parts = rel.split("/")
            if not recursive and len(parts) > 1:
                dirs.add(f"{base}/{parts[0]}" if base else parts[0])
                continue
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                dirs.add(f"{base}/{d}" if base else d)
            out.append(e.tree_entry())
        out += [{"type": "directory", "oid": "0" * 40, "size": 0, "path": d} for d in sorted(dirs)]
        self._send_json(200, out, {"X-Repo-Commit": commit})

    def _resolve(self, repo_id: str, rev: str, path: str) -> None:
        commit, entries = self._revision(repo_id, rev)
        entry = next((e for e in entries if e.path == path), None)
        if entry is None:
            raise NotFound("EntryNotFound", f"{path} does not exist at {commit}")
        headers = {
            "X-Repo-Commit": commit,
            "ETag": f'"{entry.etag}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if entry.lfs:
            headers["X-Linked-Etag"] = f'"{entry.sha256}"'
            headers["X-Linked-Size"] = str(entry.size)
        start, end, status = 0, entry.size, 200
        if (rng := self.headers.get("Range")) is not None:
            parsed = _parse_range(rng, entry.size)
            if parsed is None:
                self._send(416, b"", {"Content-Range": f"bytes */{entry.size}"})
                return
            start, end = parsed
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{entry.size}"
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if self.command == "HEAD" or end == start:
            return
        self.wfile.flush()
        with open(self.vault.store.blob_path(entry.sha256), "rb") as fh:
            self.connection.sendfile(fh, start, end - start)

    # -- pages for people ------------------------------------------------------

    def _ui(self, path: str) -> None:
        from vault._ui import site

        status, body = site.render(self.vault, path)
        self._send(status, body, site.HEADERS)

    # -- plumbing ------------------------------------------------------------

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, obj: object, headers: dict[str, str]) -> None:
        self._send(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **headers})


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    m = _RANGE.fullmatch(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        return None
    if not m.group(1):  # suffix range: the last N bytes
        n = int(m.group(2))
        return (max(size - n, 0), size) if n > 0 else None
    start = int(m.group(1))
    end = min(int(m.group(2)) + 1, size) if m.group(2) else size
    if start >= size or end <= start:
        return None
    return start, end


def make_server(
    vault: Home,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_requests: bool = True,
    idle_timeout: float = IDLE_TIMEOUT,
    ui: bool = True,
) -> ThreadingHTTPServer:
    attrs = {"vault": vault, "log_requests": log_requests, "timeout": idle_timeout, "ui": ui}
    handler = type("BoundHubRequestHandler", (HubRequestHandler,), attrs)
    server_class = type("VaultHTTPServer", (ThreadingHTTPServer,), {"request_queue_size": 128})
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port}: a port is 0 to 65535 (0 picks a free one)")
    try:
        server: ThreadingHTTPServer = server_class((host, port), handler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"{host}:{port} is in use (another vault serve?); choose another with --port, or --port 0"
            ) from None
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES):
            raise UsageError(
                f"cannot listen on {host}:{port} ({exc.strerror}); see --host and --port"
            ) from None
        if isinstance(exc, socket.gaierror):
            raise UsageError(
                f"--host {host}: not an address this host can listen on ({exc.strerror})"
            ) from None
        raise
    server.daemon_threads = True
    return server
