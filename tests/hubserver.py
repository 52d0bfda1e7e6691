"""A small Hugging Face Hub-compatible server for tests (stdlib only, 127.0.0.1).

It serves folders or in-memory files as model repos at fixed commits, with the
subset of the Hub API that `huggingface_hub` needs for a download: model info,
the recursive tree, and HEAD/GET on `resolve` with ETags, LFS headers and
Range. Switches make it misbehave on purpose: lie about a file's bytes, drop
the connection half-way through a file, demand a token, or answer 404s.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".onnx")


@dataclass
class HubBlob:
    data: bytes | Path
    size: int
    sha256: str
    git_sha1: str
    lfs: bool

    def read(self, start: int, end: int) -> Iterator[bytes]:
        if isinstance(self.data, bytes):
            yield self.data[start:end]
            return
        with open(self.data, "rb") as fh:
            fh.seek(start)
            left = end - start
            while left > 0:
                chunk = fh.read(min(left, 1 << 20))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk


def make_blob(data: bytes | Path) -> HubBlob:
    sha, git = hashlib.sha256(), None
    if isinstance(data, Path):
        size = data.stat().st_size
        git = hashlib.sha1(b"blob %d\0" % size)
        with open(data, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                sha.update(chunk)
                git.update(chunk)
        name = data.name
    else:
        size = len(data)
        sha.update(data)
        git = hashlib.sha1(b"blob %d\0" % size + data)
        name = ""
    return HubBlob(data, size, sha.hexdigest(), git.hexdigest(), name.endswith(LFS_SUFFIXES))


@dataclass
class HubRepo:
    refs: dict[str, str] = field(default_factory=dict)
    commits: dict[str, dict[str, HubBlob]] = field(default_factory=dict)


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, HubRepo] = {}
        self.lie: set[str] = set()  # paths whose served bytes differ from what is published
        self.drop_once: set[str] = set()  # paths whose first full GET is cut half-way
        self.fail_get: set[str] = set()  # paths whose GET answers 500 (an outage mid-pull)
        self.token: str | None = None  # when set, every request must carry it
        self.requests: list[tuple[str, str]] = []
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    def add_commit(
        self,
        repo_id: str,
        files: dict[str, bytes | Path],
        commit: str | None = None,
        branch: str | None = "main",
    ) -> str:
        blobs = {path: make_blob(data) for path, data in files.items()}
        for path, blob in blobs.items():
            if isinstance(blob.data, bytes) and path.endswith(LFS_SUFFIXES):
                blob.lfs = True
        if commit is None:
            listing = json.dumps(sorted((p, b.sha256) for p, b in blobs.items())).encode()
            commit = hashlib.sha1(repo_id.encode() + listing).hexdigest()
        repo = self.repos.setdefault(repo_id, HubRepo())
        repo.commits[commit] = blobs
        if branch:
            repo.refs[branch] = commit
        return commit

    def add_folder(
        self, repo_id: str, folder: Path, commit: str | None = None, branch: str | None = "main"
    ) -> str:
        files: dict[str, bytes | Path] = {
            p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()
        }
        return self.add_commit(repo_id, files, commit, branch)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    # -- plumbing ----------------------------------------------------------

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj: object) -> None:
        self._send(200, json.dumps(obj).encode(), {"Content-Type": "application/json"})

    def _error(self, status: int, code: str | None, message: str) -> None:
        headers = {"X-Error-Message": message, "Content-Type": "application/json"}
        if code:
            headers["X-Error-Code"] = code
        self._send(status, json.dumps({"error": message}).encode(), headers)

    def _authorised(self) -> bool:
        token = self.hub.token
        if token is None:
            return True
        auth = self.headers.get("Authorization")
        if auth is None:
            self._error(401, "RepoNotFound", "Repository not found")
        elif auth != f"Bearer {token}":
            self._error(401, None, "Invalid credentials in Authorization header")
        else:
            return True
        return False

    def _repo(self, repo_id: str) -> HubRepo | None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found")
        return repo

    def _commit(self, repo: HubRepo, rev: str) -> str | None:
        rev = unquote(rev)
        commit = repo.refs.get(rev) or (rev if rev in repo.commits else None)
        if commit is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return commit

    # -- routes --------------------------------------------------------------

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        with self.hub._lock:
            self.hub.requests.append((self.command, path))
        if not self._authorised():
            return
        if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/(.+))?", path):
            return self._model_info(m.group(1), m.group(2) or "main")
        if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?", path):
            return self._tree(m.group(1), m.group(2), unquote(m.group(3) or ""))
        if m := re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path):
            return self._resolve(m.group(1), m.group(2), unquote(m.group(3)))
        self._error(404, None, "Not found")

    def _model_info(self, repo_id: str, rev: str) -> None:
        repo = self._repo(repo_id)
        commit = repo and self._commit(repo, rev)
        if repo is None or commit is None:
            return
        siblings = [{"rfilename": p} for p in sorted(repo.commits[commit])]
        self._json({"_id": repo_id, "id": repo_id, "modelId": repo_id, "sha": commit, "private": False,
                    "siblings": siblings, "tags": [], "downloads": 0, "likes": 0})  # fmt: skip

    def _tree(self, repo_id: str, rev: str, prefix: str) -> None:
        repo = self._repo(repo_id)
        commit = repo and self._commit(repo, rev)
        if repo is None or commit is None:
            return
        entries, dirs = [], set()
        for p, b in sorted(repo.commits[commit].items()):
            if prefix and not p.startswith(prefix.rstrip("/") + "/"):
                continue
            parts = p.split("/")
            for i in range(1, len(parts)):
                dirs.add("/".join(parts[:i]))
            entry: dict[str, object] = {"type": "file", "oid": b.git_sha1, "size": b.size, "path": p}
            if b.lfs:
                entry["lfs"] = {"oid": b.sha256, "size": b.size, "pointerSize": 134}
            entries.append(entry)
        entries += [{"type": "directory", "oid": "0" * 40, "size": 0, "path": d} for d in sorted(dirs)]
        self._json(entries)

    def _resolve(self, repo_id: str, rev: str, file_path: str) -> None:
        repo = self._repo(repo_id)
        commit = repo and self._commit(repo, rev)
        if repo is None or commit is None:
            return
        blob = repo.commits[commit].get(file_path)
        if blob is None:
            return self._error(404, "EntryNotFound", f"{file_path} does not exist at {commit}")
        if self.command == "GET" and file_path in self.hub.fail_get:
            return self._error(500, None, "Internal Error")
        etag = blob.sha256 if blob.lfs else blob.git_sha1
        headers = {"X-Repo-Commit": commit, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
        if blob.lfs:
            headers["X-Linked-Etag"] = f'"{blob.sha256}"'
            headers["X-Linked-Size"] = str(blob.size)
        start, end, status = 0, blob.size, 200
        if rng := re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "")):
            start = int(rng.group(1))
            end = int(rng.group(2)) + 1 if rng.group(2) else blob.size
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{blob.size}"
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if self.command == "HEAD":
            return
        drop = False
        with self.hub._lock:
            if file_path in self.hub.drop_once and start == 0:
                self.hub.drop_once.discard(file_path)
                drop = True
        sent = 0
        for chunk in blob.read(start, end):
            mid = blob.size // 2
            if file_path in self.hub.lie and start + sent <= mid < start + sent + len(chunk):
                i = mid - start - sent
                chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1 :]
            if drop and sent + len(chunk) >= (end - start) // 2:
                self.wfile.write(chunk[: (end - start) // 2 - sent])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.wfile.write(chunk)
            sent += len(chunk)
