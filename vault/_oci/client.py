"""A registry session: the distribution API calls vault makes, over `requests`, one error line each.

vault speaks the protocol itself (about ten calls) rather than through
oras-py, the ORAS project's Python SDK, for reasons measured here:

- importing `oras.provider` imports jsonschema, which with its format
  extras compiles lark grammars at import: 1.6 CPU-s before the first
  request, in every command (`vault check` runs in an init container);
- its one-request upload reads the whole blob into memory (`fd.read()`),
  and its request wrapper retries each failed call five times with sleeps
  growing to 81 s;
- it answers a 401 by sending the request again with credentials, so every
  upload travels twice, and an upload the registry cuts off on the
  unauthenticated attempt dies with an SSL EOF.

Uploads here are chunked (POST, one PATCH per chunk, PUT with the digest),
holding one chunk in memory; credentials go with the first request; a
failure is one line at once, and a re-run sends only what the registry
lacks, since every blob is looked up by digest first. oras-py stays what
the tests and `scripts/bench` use as an independent client.

It never reads the docker config itself (a config can name credential
helpers to run); `credentials.py` reads the file and hands over a user and
password.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import signal
import threading
import time
from collections.abc import Iterator
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions

from vault._oci.credentials import Credentials
from vault._oci.documents import IMAGE_INDEX, IMAGE_MANIFEST, MAX_MANIFEST_BYTES, Document, digest_of
from vault._oci.reference import OciRef
from vault.errors import AccessDeniedError, BundleFormatError, IntegrityError, NetworkError, NotFoundError

CHUNK = 32 << 20  # bytes per PATCH: memory held per upload
READ = 1 << 20
READ_TIMEOUT = 60  # seconds a registry may stay silent mid-answer (--timeout is checked as bytes come)


class RegistryClient:
    def __init__(
        self,
        ref: OciRef,
        credentials: Credentials | None,
        ca_file: Path | None,
        plain_http: bool,
        timeout: float | None = None,
    ) -> None:
        """`timeout`: seconds the whole session may take (a registry that trickles bytes never
        trips a per-read timeout)."""
        self.ref = ref
        self._deadline = time.monotonic() + timeout if timeout is not None else None
        self._verify: bool | str = str(ca_file) if ca_file is not None else _system_cas()
        self._session = requests.Session()
        # Nothing from requests' environment: no ~/.netrc credentials (only the auth file's are
        # sent), no REQUESTS_CA_BUNDLE in place of the CAs named here, no proxy.
        self._session.trust_env = False
        # No cookies: some registries set one and then treat the client as a browser (CSRF).
        self._session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        self._headers: dict[str, str] = {}
        self._origin = f"{'http' if plain_http else 'https'}://{ref.host}"
        self._base = f"{self._origin}/v2/{ref.repository}"
        if credentials is not None:
            token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"

    # -- the one place requests are made and their failures worded

    def _call(self, method: str, url: str, ok: tuple[int, ...], **kw: Any) -> requests.Response:
        # Every URL vault asks for is on the registry's own origin (`_location` refuses others), so
        # the credentials go nowhere else; requests drops them on a redirect to another host.
        assert url.startswith(f"{self._origin}/"), url
        headers = {**self._headers, **kw.pop("headers", {})}
        self._in_time(url.rsplit("/", 1)[-1])
        try:
            response: requests.Response = self._session.request(
                method, url, headers=headers, verify=self._verify, timeout=(10, READ_TIMEOUT),
                # A blob GET may be sent to storage elsewhere (credentials dropped); what vault
                # sends goes to the registry named, so an upload is never redirected.
                allow_redirects=method == "GET", **kw,
            )  # fmt: skip
        except requests.exceptions.SSLError as exc:
            raise NetworkError(
                f"registry {self.ref.host}: TLS failed ({_reason(exc)}); name the site's CA with --ca-file"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise NetworkError(f"registry {self.ref.host}: {_reason(exc)}") from None
        self._check(response, ok)
        return response

    def _in_time(self, what: str) -> None:
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise NetworkError(f"registry {self.ref.host}: {what[:40]} not received within --timeout")

    def _check(self, response: requests.Response, ok: tuple[int, ...]) -> None:
        if response.status_code in ok:
            return
        challenge = response.headers.get("WWW-Authenticate", "")
        if response.status_code == 401 and challenge.lower().startswith("bearer"):
            raise AccessDeniedError(
                f"registry {self.ref.host}: asks for token (Bearer) authentication, which vault does not "
                "speak yet; use a registry account with basic authentication"
            )
        if response.status_code in (401, 403):
            raise AccessDeniedError(
                f"registry {self.ref.host}: access denied ({response.status_code}); "
                "check the credentials file (REGISTRY_AUTH_FILE or ~/.docker/config.json)"
            )
        asked = shown(f"{response.request.method} {_path(response)}")
        raise NetworkError(
            f"registry {self.ref.host}: {asked} answered {response.status_code}{_errors(response)}"
        )

    # -- blobs

    def has_blob(self, digest: str) -> bool:
        return self._call("HEAD", f"{self._base}/blobs/{digest}", (200, 404)).status_code == 200

    def _location(self, response: requests.Response) -> str:
        """Where an upload continues (the Location header, relative to the registry or absolute)."""
        location = response.headers.get("Location", "")
        if not location:
            raise NetworkError(f"registry {self.ref.host}: an upload answer carries no Location")
        url = urljoin(f"{self._origin}/", location)
        if not url.startswith(f"{self._origin}/"):
            # Credentials go with every upload request: never to another host, or in clear to
            # this one when it was reached over TLS.
            raise NetworkError(
                f"registry {self.ref.host}: an upload continues at {_origin_of(url)}, not {self._origin}; "
                "refused (credentials go to the registry named only)"
            )
        return url

    def _finish(self, location: str, digest: str, mismatch: str, **kw: Any) -> None:
        """Close an upload; `mismatch` is the line for the registry finding the bytes sent are not
        what `digest` names (its DIGEST_INVALID), worded by the caller who knows where they came from."""
        sep = "&" if "?" in location else "?"
        response = self._call("PUT", f"{location}{sep}digest={digest}", (201, 400), **kw)
        if response.status_code == 400:
            if _error_code(response) == "DIGEST_INVALID":
                raise IntegrityError(mismatch)
            self._check(response, (201,))

    def push_file(self, source: BinaryIO, digest: str, size: int, mismatch: str) -> None:
        """Upload `size` bytes of an open file whose sha256 should be `digest`, one chunk in memory at
        a time; `mismatch` (a line naming the file) if the registry finds it is not, or it is short."""
        location = self._location(
            self._call("POST", f"{self._base}/blobs/uploads/", (202,), headers={"Content-Length": "0"})
        )
        sent = 0
        with source as fh:
            while sent < size:
                chunk = fh.read(min(CHUNK, size - sent))
                if not chunk:
                    raise IntegrityError(mismatch)
                answer = self._call(
                    "PATCH", location, (202,), data=chunk,
                    headers={"Content-Type": "application/octet-stream",
                             "Content-Range": f"{sent}-{sent + len(chunk) - 1}"},
                )  # fmt: skip
                location = self._location(answer)
                sent += len(chunk)
        self._finish(location, digest, mismatch, headers={"Content-Length": "0"})

    def push_bytes(self, data: bytes) -> str:
        """Upload a small blob (config, signature) in one request; returns its digest."""
        digest = digest_of(data)
        if self.has_blob(digest):
            return digest
        location = self._location(
            self._call("POST", f"{self._base}/blobs/uploads/", (202,), headers={"Content-Length": "0"})
        )
        mismatch = f"registry {self.ref.host}: refused {digest[:19]}… as not matching its own digest"
        self._finish(
            location, digest, mismatch, data=data, headers={"Content-Type": "application/octet-stream"}
        )
        return digest

    def mount_blob(self, digest: str, from_repository: str) -> bool:
        """Link a blob another repository of this registry holds into this one, without sending it
        (the distribution spec's cross-repository mount); False where the registry declines."""
        response = self._call(
            "POST", f"{self._base}/blobs/uploads/?mount={digest}&from={from_repository}", (201, 202),
            headers={"Content-Length": "0"},
        )  # fmt: skip
        if response.status_code == 202:  # declined: an upload session was opened instead; close it
            self._call("DELETE", self._location(response), (204, 404))
            return False
        return True

    def blob_stream(self, digest: str, size: int) -> Iterator[bytes]:
        """The registry's bytes for `digest`, at most `size` + 1 of them (a longer answer is cut there,
        for the caller's size check to refuse); the caller checks the digest."""
        response = self._call("GET", f"{self._base}/blobs/{digest}", (200,), stream=True)
        with response:
            left = size + 1
            for chunk in self._pieces(response, digest):
                yield chunk[:left]
                left -= len(chunk)
                if left <= 0:
                    return

    def _pieces(self, response: requests.Response, what: str) -> Iterator[bytes]:
        """An answer's bytes as they arrive (whatever has come, up to a MiB: a registry that trickles
        is still held to the deadline), every way it can break off worded as one line."""
        try:
            while True:
                piece = response.raw.read1(READ, decode_content=True)
                if not piece:
                    return
                self._in_time(what)
                yield piece
        except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError) as exc:
            raise NetworkError(f"registry {self.ref.host}: {what[:40]} broke off ({_reason(exc)})") from None

    def get_blob(self, digest: str, cap: int) -> bytes:
        """A small blob whole, refused if it is larger than `cap` or not what `digest` names."""
        data = b"".join(self.blob_stream(digest, cap))
        if len(data) > cap:
            raise BundleFormatError(f"registry: blob {digest[:19]}… exceeds {cap} bytes")
        if digest_of(data) != digest:
            raise IntegrityError(f"registry: blob {digest[:19]}… does not match its digest")
        return data

    # -- manifests

    def put_manifest(self, reference: str, doc: Document) -> requests.Response:
        return self._call(
            "PUT", f"{self._base}/manifests/{reference}", (201,), data=doc.raw,
            headers={"Content-Type": doc.media_type},
        )  # fmt: skip

    def get_manifest(
        self, reference: str, accept: str = f"{IMAGE_MANIFEST}, {IMAGE_INDEX}"
    ) -> Document | None:
        """The document a tag or digest names (None if the registry has none), capped; by digest, it
        must hash to that digest."""
        response = self._call(
            "GET", f"{self._base}/manifests/{reference}", (200, 404), stream=True, headers={"Accept": accept},
        )  # fmt: skip
        with response:
            if response.status_code == 404:
                return None
            raw = self._read_capped(response, f"manifest {reference}")
        if reference.startswith("sha256:") and digest_of(raw) != reference:
            raise IntegrityError(f"registry: manifest {reference[:19]}… does not match its digest")
        media = response.headers.get("Content-Type", "").split(";")[0].strip()
        return Document(raw, media)

    def referrers(self, digest: str) -> Document | None:
        """The referrers API's list for `digest`, or None where the registry lacks the API."""
        response = self._call(
            "GET", f"{self._base}/referrers/{digest}", (200, 404), stream=True,
            headers={"Accept": IMAGE_INDEX},
        )  # fmt: skip
        with response:
            if (
                response.status_code == 404
                or response.headers.get("Content-Type", "").split(";")[0] != IMAGE_INDEX
            ):
                return None
            raw = self._read_capped(response, f"referrers of {digest[:19]}…")
        return Document(raw, IMAGE_INDEX)

    def _read_capped(self, response: requests.Response, what: str) -> bytes:
        """A small answer whole (a manifest, a referrers list): capped, and within the deadline."""
        pieces: list[bytes] = []
        held = 0
        for piece in self._pieces(response, what):
            pieces.append(piece)
            held += len(piece)
            if held > MAX_MANIFEST_BYTES:
                raise BundleFormatError(f"registry: {what} exceeds {MAX_MANIFEST_BYTES} bytes")
        return b"".join(pieces)


def require(doc: Document | None, what: str) -> Document:
    if doc is None:
        raise NotFoundError(f"registry: {what} not found")
    return doc


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"[:200]


def _reason(exc: BaseException) -> str:
    text = str(exc.args[0] if exc.args else exc)
    if "Read timed out" in text:
        return f"no answer for {READ_TIMEOUT} s"
    if "Connection refused" in text or "NewConnectionError" in text:
        return "connection refused"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "certificate verify failed"
    if "EOF" in text or "reset" in text.lower() or "aborted" in text.lower():
        return "connection closed by the registry"
    return shown(text.splitlines()[0][:200]) if text else type(exc).__name__


def _path(response: requests.Response) -> str:
    url = response.request.url or ""
    return url.split("/v2/", 1)[-1].split("?", 1)[0]


def _error_code(response: requests.Response) -> str | None:
    try:
        code = response.json()["errors"][0]["code"]
    except (ValueError, LookupError, TypeError):
        return None
    return code if isinstance(code, str) else None


def _errors(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors", [])
        first = errors[0]
        return shown(f": {first.get('code', '')!s} {str(first.get('message', ''))[:200]}".rstrip())
    except (ValueError, AttributeError, IndexError, TypeError, KeyError):
        return ""


def shown(text: str) -> str:
    """Text a registry (or a node's directory) chose, as one line of printable characters: no
    escape sequence reaches the operator's terminal, no newline forges a second line."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _system_cas() -> bool | str:
    """The system's CA file (what `openssl` and curl trust), else requests' own bundle."""
    import ssl

    paths = ssl.get_default_verify_paths()
    return (
        paths.cafile or paths.openssl_cafile if Path(paths.cafile or paths.openssl_cafile).is_file() else True
    )


def connect(
    ref: OciRef, ca_file: Path | None, plain_http: bool, auth_file: Path | None, timeout: float | None = None
) -> RegistryClient:
    """A session for `ref`'s registry with the credentials file's entry for its host, if any."""
    from vault._oci.credentials import credentials_for

    return RegistryClient(ref, credentials_for(ref.host, auth_file), ca_file, plain_http, timeout)


class _Expired(BaseException):
    """Raised by the alarm: a BaseException, so no `except Exception` on the way can take it."""


@contextlib.contextmanager
def time_limit(seconds: float | None, what: str) -> Iterator[None]:
    """The whole of a registry check, bounded. An alarm interrupts any wait, including a registry
    that trickles its status line and headers, which no per-read timeout catches. Main thread only
    (where signals are handled); elsewhere the checks as each piece arrives still apply."""
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(_signum: int, _frame: object) -> None:
        raise _Expired

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _Expired:
        raise NetworkError(f"{what}: not done within --timeout ({seconds:g} s)") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
