"""A registry session over oras-py: the distribution API calls vault makes, and one error line each.

oras-py (the ORAS project's Python SDK) speaks the protocol: its session,
chunked blob upload and streamed blob GET. Three of its defaults are not
vault's, and are set here rather than worked around elsewhere:

- Its request wrapper retries a failed call five times with sleeps growing to
  81 s. vault fails at once with one line; a re-run uploads only what the
  registry lacks, since every blob is checked by digest first.
- It answers a 401 by sending the request again with credentials, so every
  upload chunk would travel twice (and a one-PUT upload of a large blob dies
  when the registry closes the connection on the unauthenticated attempt).
  vault sends the credentials with the first request.
- Its monolithic upload reads the whole blob into memory; vault uses the
  chunked upload (POST, PATCH per chunk, PUT), which holds one chunk.

It never loads the docker config itself (that can run credential helpers);
`credentials.py` reads the file and hands over a user and password.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import oras.container
import oras.provider
import requests

from vault._oci.credentials import Credentials
from vault._oci.documents import IMAGE_INDEX, IMAGE_MANIFEST, MAX_MANIFEST_BYTES, Document, digest_of
from vault._oci.reference import OciRef
from vault.errors import AccessDeniedError, BundleFormatError, IntegrityError, NetworkError, NotFoundError

CHUNK = 16 << 20  # bytes per PATCH: memory held per upload
READ = 1 << 20


class _Registry(oras.provider.Registry):  # type: ignore[misc]
    # The undecorated request: no retries and sleeps (see the module docstring).
    do_request = oras.provider.Registry.do_request.__wrapped__


class RegistryClient:
    def __init__(
        self, ref: OciRef, credentials: Credentials | None, ca_file: Path | None, plain_http: bool
    ) -> None:
        self.ref = ref
        verify: bool | str = str(ca_file) if ca_file is not None else True
        self._oras = _Registry(
            hostname=ref.host, insecure=plain_http, tls_verify=verify, auth_backend="basic"
        )
        self._base = f"{'http' if plain_http else 'https'}://{ref.host}/v2/{ref.repository}"
        self._container = oras.container.Container(f"{ref.host}/{ref.repository}", registry=ref.host)
        if credentials is not None:
            token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
            self._oras.set_header("Authorization", f"Basic {token}")

    # -- the one place requests are made and their failures worded

    def _call(self, method: str, url: str, ok: tuple[int, ...], **kw: Any) -> requests.Response:
        headers = {**self._oras.headers, **kw.pop("headers", {})}
        try:
            response: requests.Response = self._oras.session.request(
                method, url, headers=headers, verify=self._oras._tls_verify, timeout=(10, 300), **kw
            )
        except requests.exceptions.SSLError as exc:
            raise NetworkError(
                f"registry {self.ref.host}: TLS failed ({_reason(exc)}); name the site's CA with --ca-file"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise NetworkError(f"registry {self.ref.host}: {_reason(exc)}") from None
        self._check(response, ok)
        return response

    def _check(self, response: requests.Response, ok: tuple[int, ...]) -> None:
        if response.status_code in ok:
            return
        if response.status_code in (401, 403):
            raise AccessDeniedError(
                f"registry {self.ref.host}: access denied ({response.status_code}); "
                "check the credentials file (REGISTRY_AUTH_FILE or ~/.docker/config.json)"
            )
        asked = f"{response.request.method} {_path(response)}"
        raise NetworkError(
            f"registry {self.ref.host}: {asked} answered {response.status_code}{_errors(response)}"
        )

    # -- blobs

    def has_blob(self, digest: str) -> bool:
        return self._call("HEAD", f"{self._base}/blobs/{digest}", (200, 404)).status_code == 200

    def push_file(self, path: Path, digest: str, size: int) -> None:
        """Upload a file whose sha256 is `digest`, one chunk in memory at a time."""
        try:
            response = self._oras.chunked_upload(
                str(path), self._container, {"digest": digest, "size": size}, chunk_size=CHUNK
            )
        except requests.exceptions.SSLError as exc:
            raise NetworkError(f"registry {self.ref.host}: TLS failed ({_reason(exc)})") from None
        except requests.exceptions.RequestException as exc:
            raise NetworkError(f"registry {self.ref.host}: {_reason(exc)}") from None
        except ValueError as exc:  # oras-py's word for a refused chunk
            raise NetworkError(
                f"registry {self.ref.host}: upload of {digest[:19]}… refused ({exc})"
            ) from None
        self._check(response, (201,))

    def push_bytes(self, data: bytes) -> str:
        """Upload a small blob (config, signature) in one request; returns its digest."""
        digest = digest_of(data)
        if self.has_blob(digest):
            return digest
        started = self._call("POST", f"{self._base}/blobs/uploads/", (202,), headers={"Content-Length": "0"})
        location = self._oras._get_location(started, self._container)
        sep = "&" if "?" in location else "?"
        self._call(
            "PUT", f"{location}{sep}digest={digest}", (201,), data=data,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))},
        )  # fmt: skip
        return digest

    def mount_blob(self, digest: str, from_repository: str) -> bool:
        """Link a blob another repository of this registry holds into this one, without sending it
        (the distribution spec's cross-repository mount); False where the registry declines."""
        response = self._call(
            "POST", f"{self._base}/blobs/uploads/?mount={digest}&from={from_repository}", (201, 202),
            headers={"Content-Length": "0"},
        )  # fmt: skip
        if response.status_code == 202:  # declined: an upload session was opened instead; close it
            location = self._oras._get_location(response, self._container)
            if location:
                self._call("DELETE", location, (204, 404))
            return False
        return True

    def blob_stream(self, digest: str, size: int) -> Iterator[bytes]:
        """The registry's bytes for `digest`, at most `size` + 1 of them (a longer answer is cut there,
        for the caller's size check to refuse); the caller checks the digest."""
        response = self._call("GET", f"{self._base}/blobs/{digest}", (200,), stream=True)
        with response:
            left = size + 1
            for chunk in response.iter_content(READ):
                yield chunk[:left]
                left -= len(chunk)
                if left <= 0:
                    return

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
            raw = b""
            for chunk in response.iter_content(READ):
                raw += chunk
                if len(raw) > MAX_MANIFEST_BYTES:
                    raise BundleFormatError(
                        f"registry: manifest {reference} exceeds {MAX_MANIFEST_BYTES} bytes"
                    )
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
            raw = response.raw.read(MAX_MANIFEST_BYTES + 1, decode_content=True)
        if len(raw) > MAX_MANIFEST_BYTES:
            raise BundleFormatError(
                f"registry: referrers of {digest[:19]}… exceed {MAX_MANIFEST_BYTES} bytes"
            )
        return Document(raw, IMAGE_INDEX)


def require(doc: Document | None, what: str) -> Document:
    if doc is None:
        raise NotFoundError(f"registry: {what} not found")
    return doc


def _reason(exc: BaseException) -> str:
    text = str(exc.args[0] if exc.args else exc)
    if "Connection refused" in text or "NewConnectionError" in text:
        return "connection refused"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "certificate verify failed"
    if "EOF" in text or "reset" in text.lower() or "aborted" in text.lower():
        return "connection closed by the registry"
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _path(response: requests.Response) -> str:
    url = response.request.url or ""
    return url.split("/v2/", 1)[-1].split("?", 1)[0]


def _errors(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors", [])
        first = errors[0]
        return f": {first.get('code', '')!s} {str(first.get('message', ''))[:200]}".rstrip()
    except (ValueError, AttributeError, IndexError, TypeError, KeyError):
        return ""


def connect(ref: OciRef, ca_file: Path | None, plain_http: bool, auth_file: Path | None) -> RegistryClient:
    """A session for `ref`'s registry with the credentials file's entry for its host, if any."""
    from vault._oci.credentials import credentials_for

    return RegistryClient(ref, credentials_for(ref.host, auth_file), ca_file, plain_http)
