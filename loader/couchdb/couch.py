"""The only code that speaks HTTP to CouchDB (or PouchDB Server).

A thin layer over one urllib3 connection pool (requests' own transport without
requests' per-call work: about 1 ms of CPU less per call, measured in
docs/decisions.md). It encodes view parameters as JSON the way CouchDB expects
(array keys stay arrays), turns error answers into `CouchError` and unreachable
servers into `CouchUnavailable`, and retries only when the caller asked for it
(the loader does; the service fails fast).

A caller with a time budget (the service: COUCHREC_TIMEOUT per HTTP request) sets a
deadline with `start_deadline`; every request made in that context then waits at most
for what is left of it, and none is sent once it has passed.
"""

from __future__ import annotations

import copy

import json
import os
import time
from contextvars import ContextVar, Token
from dataclasses import dataclass
from json import dumps
from itertools import islice
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import quote, unquote, urlencode, urlsplit, urlunsplit

import certifi
import orjson
import urllib3
from urllib3.exceptions import HTTPError as TransportError, MaxRetryError
from urllib3.util.retry import Retry

from loader.couchdb.parts import in_parts

# View query parameters whose values CouchDB reads as JSON.
JSON_VIEW_PARAMS = {"key", "keys", "startkey", "endkey", "start_key", "end_key"}


DDOC_SWAPPED = "Design document was updated or deleted."  # a cluster's copies disagree on the design doc
DDOC_SWAP_RETRIES = 3
DDOC_SWAP_PAUSE = 0.2  # seconds, times the attempt


class CouchError(Exception):
    """CouchDB answered with an error status."""

    def __init__(self, status: int, error: str, reason: str):
        super().__init__(f"{status} {error}: {reason}")
        self.status = status
        self.error = error
        self.reason = reason


class CouchUnavailable(Exception):
    """CouchDB could not be reached, or did not answer in time."""


class CouchTimeout(CouchUnavailable, CouchError):
    """CouchDB gave up on the request itself (500 `timeout`, e.g. a query waiting on an index build):
    an error answer, and a sign to come back later."""

    def __init__(self, status: int, error: str, reason: str):
        CouchError.__init__(self, status, error, reason)


# Called after every request with (method, HTTP status or None when there was no answer, seconds).
RequestObserver = Callable[[str, "int | None", float], None]

DEADLINE: ContextVar[float | None] = ContextVar("couch_deadline", default=None)


def start_deadline(seconds: float) -> Token:
    """Give every request from this context, together, `seconds` from now; pass the token to `end_deadline`."""
    return DEADLINE.set(time.monotonic() + seconds)


def end_deadline(token: Token) -> None:
    DEADLINE.reset(token)


def carry_deadline(fn: Callable) -> Callable:
    """Wrap `fn` to run under this context's deadline in a pool's thread (threads don't inherit context)."""
    deadline = DEADLINE.get()

    def run(*args, **kwargs):
        token = DEADLINE.set(deadline)
        try:
            return fn(*args, **kwargs)
        finally:
            DEADLINE.reset(token)

    return run


def time_left(timeout: float) -> float:
    """The timeout for the next request: `timeout`, cut to what is left of the deadline."""
    deadline = DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise CouchUnavailable("the request's time (COUCHREC_TIMEOUT) ran out before CouchDB answered")
    return min(timeout, left)


@dataclass(frozen=True)
class ServerInfo:
    vendor: str  # "couchdb", "pouchdb-server" or "unknown"
    version: str

    def is_couchdb(self, *, unknown: bool = False) -> bool:
        """Tell whether this is Apache CouchDB rather than PouchDB Server; `unknown` answers for a server that is
        neither (False where a CouchDB-only feature must not be assumed, True where anything but PouchDB Server
        is taken for a CouchDB)."""
        return self.vendor == "couchdb" or (unknown and self.vendor == "unknown")


def redact(url: str) -> str:
    """Return the URL with any password replaced, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def encode_view_params(params: dict[str, Any]) -> dict[str, str]:
    """Encode view options as CouchDB reads them: JSON for keys, lowercase booleans."""
    encoded = {}
    for name, value in params.items():
        if value is None:
            continue
        if name in JSON_VIEW_PARAMS:
            encoded[name] = json.dumps(value, separators=(",", ":"))
        elif isinstance(value, bool):
            encoded[name] = "true" if value else "false"
        else:
            encoded[name] = str(value)
    return encoded


def chunks(iterable: Iterable, size: int) -> Iterator[list]:
    """Yield lists of up to `size` items, lazily: the batches of `_bulk_docs` writes and `keys` reads."""
    iterator = iter(iterable)
    while batch := list(islice(iterator, size)):
        yield batch


def doc_path(doc_id: str) -> str:
    """Quote a document id for a URL path; design and local docs keep their slash."""
    for prefix in ("_design/", "_local/"):
        if doc_id.startswith(prefix):
            return prefix + quote(doc_id[len(prefix):], safe="")
    return quote(doc_id, safe="")


@dataclass(frozen=True)
class Answer:
    """A response from CouchDB, read in full."""

    status_code: int
    data: bytes

    def json(self) -> Any:
        try:
            return orjson.loads(self.data)  # 4-5x the standard library's speed on large answers
        except orjson.JSONDecodeError:  # what orjson refuses (integers past 64 bits) the standard library reads
            return json.loads(self.data)

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


def connection_pool(url: str) -> tuple[urllib3.PoolManager, dict[str, str], str]:
    """A pool for the server at `url`, the headers that carry its credentials, and the URL without them."""
    parts = urlsplit(url)
    headers = {"Accept": "application/json"}
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers.update(urllib3.make_headers(basic_auth=credentials))
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    pool = urllib3.PoolManager(maxsize=32, cert_reqs="CERT_REQUIRED",
                               ca_certs=os.environ.get("REQUESTS_CA_BUNDLE") or certifi.where())
    return pool, headers, urlunsplit(parts._replace(netloc=netloc)).rstrip("/")


class Couch:
    """A CouchDB server and one of its databases."""

    def __init__(self, url: str, db: str, *, timeout: float = 30.0, retries: int = 0,
                 observe: RequestObserver | None = None):
        self.url = url.rstrip("/")
        self.db = db
        self.timeout = timeout
        self.observe = observe
        self.pool, self.headers, self.base = connection_pool(self.url)
        self.retries: Retry | bool = False
        if retries:
            self.retries = Retry(
                total=retries,
                connect=retries,
                read=retries,
                status=retries,
                backoff_factor=0.5,
                backoff_max=30,
                status_forcelist=(500, 502, 503, 504),
                allowed_methods=None,  # every request we retry is idempotent by id
                raise_on_status=False,
            )

    def __repr__(self) -> str:
        return f"Couch({redact(self.url)!r}, {self.db!r})"

    def sibling(self, db: str) -> "Couch":
        """Database `db` on the same server, through the same connections, with the same timeout, retries and
        request observer (so its requests count in the metrics like this one's)."""
        other = copy.copy(self)
        other.db = db
        return other

    # -- plumbing -------------------------------------------------------------

    def request(self, method: str, path: str, *, ok=(200, 201, 202), params: dict | None = None,
                json: Any = None, headers: dict | None = None, timeout: float | None = None) -> Answer:
        """Send a request to the server; raise CouchError unless the status is in `ok`."""
        wait = time_left(self.timeout if timeout is None else timeout)
        url = f"{self.base}/{path}" + (f"?{urlencode(params)}" if params else "")
        sent = {**self.headers, **(headers or {})}
        body = None
        if json is not None:
            body = dumps(json).encode()  # `json` is the body here: the module's name is taken
            sent["Content-Type"] = "application/json"
        started = time.perf_counter()
        status = None
        try:
            response = self.pool.request(method, url, body=body, headers=sent, retries=self.retries,
                                         timeout=urllib3.Timeout(connect=wait, read=wait), redirect=False)
            status = response.status
        except MaxRetryError as exc:
            raise CouchUnavailable(f"CouchDB at {redact(self.url)} kept failing: "
                                   f"{exc.reason.__class__.__name__}") from exc
        except TransportError as exc:  # refused, reset, timed out, or cut in the middle of an answer
            raise CouchUnavailable(f"CouchDB at {redact(self.url)} did not answer: {exc.__class__.__name__}") from exc
        finally:
            if self.observe is not None:
                self.observe(method, status, time.perf_counter() - started)
        answer = Answer(status, response.data)
        if status not in ok:
            raise error_from(answer)
        return answer

    def db_request(self, method: str, path: str = "", **kwargs) -> Answer:
        """Send a request below this database's URL."""
        suffix = f"/{path}" if path else ""
        return self.request(method, quote(self.db, safe="") + suffix, **kwargs)

    # -- server and database --------------------------------------------------

    def server_info(self) -> ServerInfo:
        body = self.request("GET", "").json()
        if "couchdb" in body:
            return ServerInfo("couchdb", body.get("version", "?"))
        if "express-pouchdb" in body:
            return ServerInfo("pouchdb-server", body.get("version", "?"))
        return ServerInfo("unknown", body.get("version", "?"))

    def is_couchdb(self, *, unknown: bool = False) -> bool:
        """Tell whether the server is Apache CouchDB rather than PouchDB Server (one request; see ServerInfo)."""
        return self.server_info().is_couchdb(unknown=unknown)

    def db_info(self) -> dict:
        return self.db_request("GET").json()

    def ensure_db(self, *, q: int | None = None) -> bool:
        """Create the database if it does not exist (with `q` shard ranges on CouchDB, when given); return
        True when it was created."""
        response = self.db_request("PUT", ok=(201, 202, 412), params={"q": q} if q else None)
        return response.status_code != 412

    def delete_db(self) -> None:
        self.db_request("DELETE", ok=(200, 202, 404))

    def active_tasks(self) -> list[dict]:
        return self.request("GET", "_active_tasks").json()

    def view_cleanup(self) -> bool:
        """Ask the server to drop index files no design document uses; False if unsupported."""
        response = self.db_request("POST", "_view_cleanup", json={}, ok=(200, 202, 404, 405, 501))
        return response.status_code in (200, 202)

    # -- documents ------------------------------------------------------------

    def get_doc(self, doc_id: str) -> dict | None:
        """Return the document, or None when it does not exist (or was deleted)."""
        response = self.db_request("GET", doc_path(doc_id), ok=(200, 404))
        return response.json() if response.status_code == 200 else None

    def put_doc(self, doc_id: str, doc: dict) -> str:
        """Write a document (with `_rev` to update); return the new revision."""
        response = self.db_request("PUT", doc_path(doc_id), json=doc)
        return response.json()["rev"]

    def delete_doc(self, doc_id: str, rev: str) -> None:
        self.db_request("DELETE", doc_path(doc_id), params={"rev": rev}, ok=(200, 202, 404))

    def copy_doc(self, source_id: str, target_id: str, target_rev: str | None) -> bool:
        """Server-side COPY; False when the server has no COPY method (PouchDB Server)."""
        destination = doc_path(target_id) + (f"?rev={target_rev}" if target_rev else "")
        response = self.db_request(
            "COPY", doc_path(source_id), headers={"Destination": destination}, ok=(201, 202, 404, 405, 501)
        )
        if response.status_code in (201, 202):
            return True
        if response.status_code == 404 and self.get_doc(source_id) is not None:
            return False  # the method is unknown, not the document
        if response.status_code == 404:
            raise error_from(response)
        return False

    def bulk_docs(self, docs: list[dict]) -> list[dict]:
        """Write many documents; return CouchDB's per-document results in the same order."""
        def write(part: list[dict]) -> list[dict]:
            return self.db_request("POST", "_bulk_docs", json={"docs": part}).json()
        return [result for results in in_parts(write, docs) for result in results]

    def get_docs(self, doc_ids: Iterable[str]) -> dict[str, dict]:
        """Return the live documents among `doc_ids`, by id."""
        def read(part: list[str]) -> list[dict]:
            body = self.db_request("POST", "_all_docs", params={"include_docs": "true"}, json={"keys": part}).json()
            return body["rows"]
        return {row["id"]: row["doc"] for rows in in_parts(read, list(doc_ids)) for row in rows if row.get("doc")}

    def all_docs(self, *, batch: int = 1000) -> Iterable[dict]:
        """Yield every non-design document, paging through `_all_docs`."""
        startkey = None
        while True:
            params = {"include_docs": "true", "limit": batch + 1}
            if startkey is not None:
                params["startkey"] = startkey
            rows = self.db_request("GET", "_all_docs", params=encode_view_params(params)).json()["rows"]
            for row in rows[:batch]:
                if not row["id"].startswith("_design/") and row.get("doc"):
                    yield row["doc"]
            if len(rows) <= batch:
                return
            startkey = rows[batch]["id"]

    # -- views ----------------------------------------------------------------

    def query_view(self, ddoc: str, view: str, *, timeout: float | None = None, **params) -> dict:
        """Query a view; `keys` goes in a POST body, the other options in the URL.

        A cluster answers 404 "Design document was updated or deleted." when a query meets shard copies
        that hold different versions of the design doc, for the moment after it is installed or swapped:
        that answer is asked again, a few times, before it is raised."""
        path = f"_design/{quote(ddoc, safe='')}/_view/{quote(view, safe='')}"
        keys = params.pop("keys", None)
        kwargs = {"params": encode_view_params(params)}
        if timeout is not None:
            kwargs["timeout"] = timeout
        retried = 0
        while True:
            try:
                if keys is None:
                    return self.db_request("GET", path, **kwargs).json()
                return self.db_request("POST", path, json={"keys": keys}, **kwargs).json()
            except CouchError as exc:
                if exc.status != 404 or exc.reason != DDOC_SWAPPED or retried == DDOC_SWAP_RETRIES:
                    raise
                retried += 1
                time.sleep(DDOC_SWAP_PAUSE * retried)


def error_from(response: Answer) -> CouchError:
    """Build a CouchError from an error answer, whatever shape its body has."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    error, reason = str(body.get("error", "http_error")), str(body.get("reason", response.text[:200]))
    kind = CouchTimeout if (response.status_code, error) == (500, "timeout") else CouchError
    return kind(response.status_code, error, reason)
