"""Git LFS servers as model remotes: the batch API with the `basic` transfer adapter.

GitHub, GitLab, Gitea, Bitbucket and Hugging Face all speak it
(https://github.com/git-lfs/git-lfs/blob/main/docs/api/batch.md). One
`POST {endpoint}/objects/batch` (`application/vnd.git-lfs+json`) per 100
objects says which objects the server lacks (only those get `upload`
actions) or where to download them; each action has an href, headers to send
and an expiry. An LFS server stores whole files, so:

- an upload streams the file rebuilt from the cache, chunk by chunk (memory:
  a few chunks; no temporary copy), with its Content-Length;
- a download is cut into chunks as it arrives (`Store.add_stream`), and the
  resulting sha256 must equal the pointer's before the object enters the cache.

Everything from the server is untrusted: only objects we asked for are acted on,
hrefs must be http(s), headers must be text, sizes are capped at the pointer's.

Credentials come from the URL, `GIT_MODEL_LFS_TOKEN` (sent as a bearer token), the
action headers the server signs, or `git credential fill` after a 401 (approved
when they work, rejected when refused), so the helpers users already have serve.
429 and 5xx answers and dropped connections are retried with backoff, honouring
`Retry-After`. urllib3 (under requests and botocore) keeps one thread-safe connection
pool for the whole transfer. httpx was tried first: against giftless, which streams a
download in ~250-byte HTTP chunks, its pure-Python parser took 17 s for 128 MB where
urllib3 and curl take 5 s.
"""
from __future__ import annotations

import json as jsonlib
import os
import random
import threading
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import urlsplit, urlunsplit

from gitmodel.errors import UserError
from gitmodel.git import credential, sshauth
from gitmodel.git.repo import Repo
from gitmodel.store.objects import CorruptObject, MissingObject, Store
from gitmodel.store.pointer import EMPTY_OID, Pointer
from gitmodel.transfer.engine import Known, Progress, Stats, parallel
from gitmodel.transfer.remotes import Backend, Remote, RemoteError, is_lfs_url

MEDIA = "application/vnd.git-lfs+json"
BATCH_SIZE = 100          # objects per batch call (git-lfs sends 100 too)
WORKERS = 8               # objects moved at once; one pooled connection each
RETRIES = 5               # tries of one request on 429/5xx/dropped connections
BACKOFF = 0.25            # first wait, doubled each try (with jitter), unless Retry-After says
MAX_WAIT = 30.0           # a Retry-After longer than this is cut to it
EXPIRY_MARGIN = 10.0      # an action this close to its expiry is asked for again
MAX_BATCH_ANSWER = 16 << 20
MAX_ERROR_ANSWER = 64 << 10
TOKEN_ENV = "GIT_MODEL_LFS_TOKEN"
_REASONS = {
    401: "authentication failed (no or wrong credentials: check your git credential helper)",
    403: "access denied (403): these credentials may not read or write this repository",
    404: "not found (404): check the URL (it ends in /info/lfs) and that the repository exists",
    413: "the server refuses an object this large (413)",
    422: "the server rejected the request (422)",
}


def _strip_userinfo(url: str) -> tuple[str, str | None, str | None]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc)), parts.username, parts.password


@dataclass
class Action:
    href: str
    headers: dict[str, str]
    deadline: float


@dataclass
class Answer:
    """The server's answer about one object: its actions, or its error."""

    actions: dict[str, Action] = field(default_factory=dict)
    error: str = ""
    code: int = 0


class LfsBackend(Backend):
    """One LFS endpoint. It holds whole objects, not chunks: the chunk-level methods of
    `Backend` are refused, and `push`/`fetch` below replace the engine's."""

    def __init__(self, remote: Remote, cwd: Path | None, ssh_url: str | None = None) -> None:
        super().__init__(remote, None, remote.url, True)
        self.endpoint, user, password = _strip_userinfo(remote.url.rstrip("/"))
        self.cwd = cwd
        self.ssh_url = ssh_url  # the ssh git remote this endpoint was derived from
        self._lock = threading.Lock()
        self._cred: dict[str, str] | None = None
        self._asked = False
        self._auth: dict[str, str] = {}
        token = os.environ.get(TOKEN_ENV)
        if token:
            self._auth = {"Authorization": f"Bearer {token}"}
        elif user is not None and password is not None:
            self._auth = {"Authorization": _basic(user, password)}
        self._pool: Any = None

    # -- HTTP ---------------------------------------------------------------------------
    @property
    def pool(self) -> Any:
        if self._pool is None:
            import urllib3  # lazy: only a transfer to an LFS remote pays for it
            self._pool = urllib3.PoolManager(
                num_pools=4, maxsize=WORKERS, retries=False,
                timeout=urllib3.Timeout(connect=15.0, read=60.0),
                headers={"User-Agent": "git-model"})
        return self._pool

    def _fail(self, doing: str, reason: str, transient: bool = False) -> RemoteError:
        return RemoteError(f"{doing} LFS remote {self.name!r} ({self.remote.display}): {reason}",
                           transient)

    def _status_error(self, doing: str, response: Any) -> RemoteError:
        reason = _REASONS.get(response.status, f"HTTP {response.status}")
        message = _server_message(response)
        return self._fail(doing, reason + (f": {message}" if message else ""))

    def request(self, doing: str, method: str, url: str, headers: Mapping[str, str],
                body: Callable[[], Any] | None = None, json: Any = None,
                stream: bool = False, own_auth: bool = True) -> Any:
        """One HTTP request, retried on 429/5xx and dropped connections; a 401 on our own
        endpoint asks `git credential fill` once. Returns the response (open when
        `stream`); any other failure is a one-line RemoteError."""
        transport_errors = _transport_errors()
        if own_auth and not self._auth and not self._asked \
                and credential.needs_basic(self.endpoint, self.cwd):
            self._fill_credentials()
        for attempt in range(RETRIES):
            sent = dict(headers)
            if own_auth and "Authorization" not in sent:
                sent.update(self._auth)
            try:
                payload = body() if body else (jsonlib.dumps(json).encode() if json is not None
                                               else None)
                response = self.pool.request(method, url, headers=sent, body=payload,
                                             preload_content=False, retries=_redirects(method))
            except transport_errors as exc:
                if attempt == RETRIES - 1:
                    raise self._fail(doing, f"{type(exc).__name__}: {exc}"[:300]
                                     + f" (tried {RETRIES} times)", True) from None
                _sleep(attempt, None)
                continue
            status = response.status
            if status == 401 and own_auth and self._fill_credentials():
                response.release_conn()
                continue
            if status == 429 or status >= 500:
                retry_after = response.headers.get("Retry-After")
                response.release_conn()
                if attempt == RETRIES - 1:
                    raise self._fail(doing, f"HTTP {status} (tried {RETRIES} times: try again later)",
                                     True)
                _sleep(attempt, retry_after)
                continue
            if status >= 300:
                reply = _Reply(status, response.read(MAX_ERROR_ANSWER))
                response.release_conn()
                if status in (401, 403) and own_auth:
                    self._reject_credentials()
                raise self._status_error(doing, reply)
            if own_auth:
                self._approve_credentials()
            if stream:
                return response
            reply = _Reply(status, response.read(MAX_BATCH_ANSWER + 1))
            response.release_conn()
            return reply
        raise AssertionError("unreachable")

    def _fill_credentials(self) -> bool:
        """After a 401: ask the credential helpers once; True when there is something new to try."""
        with self._lock:
            if self._asked:
                return False
            self._asked = True
            answer = credential.fill(credential.describe(self.endpoint), self.cwd)
            if answer is None:
                return False
            self._cred = answer
            if answer.get("authtype") and answer.get("credential"):
                self._auth = {"Authorization": f"{answer['authtype']} {answer['credential']}"}
            else:
                self._auth = {"Authorization": _basic(answer.get("username", ""),
                                                      answer.get("password", ""))}
            return True

    def _approve_credentials(self) -> None:
        with self._lock:
            cred, self._cred = self._cred, None
        if cred is not None:
            credential.approve(cred, self.cwd)
            if not credential.needs_basic(self.endpoint, self.cwd):
                credential.remember_basic(self.endpoint, self.cwd)

    def _reject_credentials(self) -> None:
        with self._lock:
            cred, self._cred = self._cred, None
        if cred is not None:
            credential.reject(cred, self.cwd)

    # -- the batch API -----------------------------------------------------------------
    def batch(self, operation: str, pointers: list[Pointer]) -> dict[str, Answer]:
        """The server's answers for `pointers` (oid -> Answer), BATCH_SIZE per call."""
        answers: dict[str, Answer] = {}
        self._ssh_authenticate(operation)
        for start in range(0, len(pointers), BATCH_SIZE):
            group = pointers[start:start + BATCH_SIZE]
            body = {"operation": operation, "transfers": ["basic"], "hash_algo": "sha256",
                    "objects": [{"oid": p.oid, "size": p.size} for p in group]}
            doing = "cannot upload to" if operation == "upload" else "cannot download from"
            try:
                response = self.request(doing, "POST", self.endpoint + "/objects/batch",
                                        {"Accept": MEDIA, "Content-Type": MEDIA}, json=body)
            except RemoteError as exc:
                if operation == "download" and " (404)" in str(exc):
                    # giftless answers 404 to a download batch whose objects are all missing
                    why = "the server answered 404 (not there, or the URL is wrong)"
                    answers.update((p.oid, Answer(error=why, code=404)) for p in group)
                    continue
                raise
            answers.update(self._parse_batch(response, {p.oid for p in group}))
        return answers

    def _ssh_authenticate(self, operation: str) -> None:
        """For an endpoint derived from an ssh git remote: once, before the first batch call,
        the endpoint and headers `git-lfs-authenticate` gives (as git-lfs does)."""
        if self.ssh_url is None or self.cwd is None:
            return
        url, self.ssh_url = self.ssh_url, None
        answer = sshauth.authenticate(url, operation, self.cwd)
        if answer is not None:
            self.endpoint, self._auth = answer[0], dict(answer[1])

    def _parse_batch(self, response: Any, asked: set[str]) -> dict[str, Answer]:
        if len(response.body) > MAX_BATCH_ANSWER:
            raise self._fail("bad answer from", "the batch answer is too large")
        try:
            data = response.json()
            objects = data["objects"]
            if data.get("transfer", "basic") != "basic" or not isinstance(objects, list):
                raise ValueError("not the basic transfer adapter")
        except (ValueError, KeyError, TypeError) as exc:
            raise self._fail("bad answer from", f"not a batch answer ({exc})") from None
        now = time.monotonic()
        answers: dict[str, Answer] = {}
        for item in objects:
            if not isinstance(item, dict) or item.get("oid") not in asked:
                continue
            error = item.get("error")
            if isinstance(error, dict):
                answers[item["oid"]] = Answer(error=str(error.get("message", ""))[:200],
                                              code=int(error.get("code", 0) or 0))
                continue
            answers[item["oid"]] = Answer(actions=self._actions(item.get("actions"), now))
        return answers

    def _actions(self, raw: Any, now: float) -> dict[str, Action]:
        actions: dict[str, Action] = {}
        if not isinstance(raw, dict):
            return actions
        for name in ("upload", "verify", "download"):
            spec = raw.get(name)
            if not isinstance(spec, dict):
                continue
            href = spec.get("href")
            headers = spec.get("header") or {}
            if not isinstance(href, str) or urlsplit(href).scheme not in ("http", "https") \
                    or not isinstance(headers, dict) \
                    or not all(isinstance(k, str) and isinstance(v, str) and "\n" not in k + v
                               for k, v in headers.items()):
                raise self._fail("bad answer from", f"a malformed {name} action")
            actions[name] = Action(href, headers, now + _lifetime(spec))
        return actions

    def held(self, pointers: list[Pointer]) -> set[str]:
        """The oids of `pointers` the server holds (its download batch offers them)."""
        answers = self.batch("download", pointers)
        return {oid for oid, answer in answers.items() if "download" in answer.actions}

    # -- Backend: what an LFS server cannot do -------------------------------------------
    def root_exists(self) -> bool:
        """`remote add --check`: the endpoint answers a download batch for the empty file
        with our credentials (401/403 raise). giftless answers 404 when none of the objects
        asked for is there, so a 404 counts as an answer too."""
        try:
            self.request("cannot reach", "POST", self.endpoint + "/objects/batch",
                         {"Accept": MEDIA, "Content-Type": MEDIA},
                         json={"operation": "download", "transfers": ["basic"],
                               "objects": [{"oid": EMPTY_OID, "size": 0}]})
        except RemoteError as exc:
            if " (404)" not in str(exc):
                raise
        return True

    def require_root(self, connect: bool = False) -> None:
        """`remote add --check` asks the server; a download finds out with its batch call."""
        if connect:
            self.root_exists()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise UserError(f"model remote {self.name!r} is a Git LFS server: it holds whole files, "
                        "not chunks (this command needs a directory, S3 or SSH remote)")

    exists = names = read = write = _refuse

    def remove_stale_tmp(self, age: float = 0) -> int:
        return 0


def _redirects(method: str) -> Any:
    """A download may be redirected to storage (urllib3 drops Authorization when the host
    changes); anything else is not followed: a 3xx is then an error."""
    from urllib3 import Retry
    return Retry(total=None, connect=0, read=0, status=0, other=0,
                 redirect=5 if method == "GET" else 0, raise_on_redirect=False)


def _transport_errors() -> tuple[type[BaseException], ...]:
    from urllib3.exceptions import HTTPError
    return (HTTPError, OSError)


def _basic(user: str, password: str) -> str:
    import base64
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _lifetime(spec: dict) -> float:
    """Seconds an action stays valid (expires_in, else expires_at; else an hour)."""
    expires_in = spec.get("expires_in")
    if isinstance(expires_in, (int, float)) and expires_in > 0:
        return float(expires_in)
    expires_at = spec.get("expires_at")
    if isinstance(expires_at, str) and expires_at:
        try:
            from datetime import datetime, timezone
            at = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
            return (at - datetime.now(timezone.utc)).total_seconds()
        except ValueError:
            pass
    return 3600.0


def _sleep(attempt: int, retry_after: str | None) -> None:
    wait = BACKOFF * 2 ** attempt * (0.5 + random.random())
    if retry_after:
        try:
            wait = float(retry_after)
        except ValueError:
            try:
                wait = parsedate_to_datetime(retry_after).timestamp() - time.time()
            except (TypeError, ValueError):
                pass
    time.sleep(min(max(wait, 0.0), MAX_WAIT))


@dataclass
class _Reply:
    """A whole (bounded) answer: status and body."""

    status: int
    body: bytes

    def json(self) -> Any:
        return jsonlib.loads(self.body)


def _server_message(response: _Reply) -> str:
    """The `message` of an LFS error answer, one short line of printable text."""
    try:
        message = response.json().get("message", "")
    except (ValueError, AttributeError):
        return ""
    text = " ".join(str(message).split())
    return "".join(c for c in text if c.isprintable())[:200]


class _Body:
    """A streamed response as a `Readable` for the chunker, refusing more than `limit` bytes."""

    def __init__(self, chunks: Iterator[bytes], limit: int) -> None:
        self._chunks, self._limit = chunks, limit
        self._pending = b""
        self.count = 0

    def readinto(self, buffer: memoryview | bytearray) -> int:
        while not self._pending:
            self._pending = next(self._chunks, b"")
            if not self._pending:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self.count += n
        if self.count > self._limit:
            raise CorruptObject(f"more than the {self._limit} bytes its pointer says")
        return n


# -- push and fetch ------------------------------------------------------------------------
def push(store: Store, backend: LfsBackend, known: Known, pointers: Mapping[Pointer, str],
         dry_run: bool = False) -> Stats:
    """Upload the objects of `pointers` the server lacks (the batch answer says which: only
    those get an `upload` action), each streamed from the cache, then `verify` them."""
    stats = Stats()
    todo = [p for p in pointers if p.size]
    stats.up_to_date = len(pointers) - len(todo)
    for pointer in todo:
        _require_whole(store, pointer, pointers[pointer], backend.name)
    answers = backend.batch("upload", todo)
    for pointer in todo:
        answer = answers.get(pointer.oid)
        if answer is None or answer.error:
            why = answer.error if answer else "no answer for it"
            raise backend._fail("cannot upload to", f"{pointers[pointer]}: {why}")
    needed = [p for p in todo if "upload" in answers[p.oid].actions]
    there = [p.oid for p in todo if "upload" not in answers[p.oid].actions]
    known.add(there)
    stats.up_to_date += len(there)
    if dry_run or not needed:  # a dry run counts what would go up: whole files
        stats.objects, stats.logical = len(needed), sum(p.size for p in needed)
        stats.moved = stats.logical
        return stats
    progress = Progress(f"push {backend.name}", sum(p.size for p in needed), 0)
    by_oid = {p.oid: p for p in needed}

    def upload(oid: str) -> None:
        pointer = by_oid[oid]
        answer = answers[oid]
        if time.monotonic() > answer.actions["upload"].deadline - EXPIRY_MARGIN:
            answer = backend.batch("upload", [pointer]).get(oid, answer)
            if "upload" not in answer.actions:
                return
        _upload(store, backend, pointer, answer.actions["upload"], progress)
        if "verify" in answer.actions:
            action = answer.actions["verify"]
            backend.request("cannot verify on", "POST", action.href,
                            {"Accept": MEDIA, "Content-Type": MEDIA, **action.headers},
                            json={"oid": pointer.oid, "size": pointer.size},
                            own_auth=_same_host(action.href, backend.endpoint))
        known.add([oid])
    return _transfer(upload, by_oid, progress, stats)


def _transfer(move: Callable[[str], None], by_oid: Mapping[str, Pointer], progress: Progress,
              stats: Stats) -> Stats:
    """Run `move` on every object, WORKERS at a time, and count what it moved."""
    try:
        parallel(move, by_oid, WORKERS)
    finally:
        progress.close()
    stats.objects, stats.logical = len(by_oid), sum(p.size for p in by_oid.values())
    stats.moved = progress.moved
    return stats


def _require_whole(store: Store, pointer: Pointer, path: str, remote: str) -> None:
    try:
        if store.missing_chunks(store.read_manifest(pointer.oid)) == []:
            return
    except (MissingObject, CorruptObject):
        pass
    raise UserError(f"cannot push {path} (object {pointer.short}) to {remote!r}: it is not "
                    "whole in the local cache (git model fetch it from where it is, or "
                    "git model fsck)")


def _upload(store: Store, backend: LfsBackend, pointer: Pointer, action: Action,
            progress: Progress) -> None:
    """PUT the file rebuilt from the cache, streamed: a few chunks in memory at a time."""
    manifest = store.read_manifest(pointer.oid)

    def body() -> Iterator[bytes]:
        for data in store.iter_chunks(manifest):
            progress.update(len(data), len(data))
            yield bytes(data)
    headers = {"Content-Type": "application/octet-stream", **action.headers,
               "Content-Length": str(pointer.size)}
    backend.request("cannot upload to", "PUT", action.href, headers, body=body,
                    own_auth=_same_host(action.href, backend.endpoint))


def _same_host(href: str, endpoint: str) -> bool:
    """Our credentials go only to the endpoint's own host (a signed storage URL elsewhere
    carries its own)."""
    a, b = urlsplit(href), urlsplit(endpoint)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def fetch(store: Store, backend: LfsBackend, pointers: Mapping[Pointer, str]) -> Stats:
    """Download the objects of `pointers` missing from the cache, chunking each into the
    cache as it arrives; an object enters the cache only when its sha256 matches."""
    stats = Stats()
    todo = [p for p in pointers if p.size and not store.has_object(p)]
    stats.up_to_date = len(pointers) - len(todo)
    if not todo:
        return stats
    answers = backend.batch("download", todo)
    for pointer in todo:
        answer = answers.get(pointer.oid)
        if answer is None or "download" not in answer.actions:
            why = (answer.error or f"error {answer.code}") if answer else "no answer for it"
            raise RemoteError(f"LFS remote {backend.name!r} does not have {pointers[pointer]} "
                              f"(object {pointer.short}): {why}: was it pushed?")
    progress = Progress(f"fetch {backend.name}", sum(p.size for p in todo), 0)
    by_oid = {p.oid: p for p in todo}

    def download(oid: str) -> None:
        pointer = by_oid[oid]
        action = answers[oid].actions["download"]
        if time.monotonic() > action.deadline - EXPIRY_MARGIN:
            action = backend.batch("download", [pointer])[oid].actions["download"]
        _download(store, backend, pointer, pointers[pointer], action, progress)
    return _transfer(download, by_oid, progress, stats)


def _download(store: Store, backend: LfsBackend, pointer: Pointer, path: str, action: Action,
              progress: Progress) -> None:
    """GET one object into the cache, chunked as it arrives; a dropped connection starts
    it again (the chunks already stored are not written twice)."""
    from urllib3.exceptions import HTTPError  # a dropped connection mid-body; not disk errors
    for attempt in range(RETRIES):
        response = backend.request("cannot download from", "GET", action.href, action.headers,
                                   stream=True, own_auth=_same_host(action.href, backend.endpoint))
        try:
            body = _Body(response.stream(1 << 20), pointer.size)
            manifest = store.add_stream(body, name=path, size=pointer.size)
            progress.update(body.count, body.count)
            break
        except HTTPError as exc:
            if attempt == RETRIES - 1:
                raise backend._fail("cannot download from", f"{type(exc).__name__}: {exc}"[:300],
                                    True) from None
            _sleep(attempt, None)
        except CorruptObject as exc:
            raise RemoteError(f"LFS remote {backend.name!r} sent {path} (object {pointer.short}) "
                              f"with {exc}; it was not kept") from None
        finally:
            response.release_conn()
    if (manifest.oid, manifest.size) != (pointer.oid, pointer.size):
        raise RemoteError(f"LFS remote {backend.name!r} sent content for {path} that does not "
                          f"match its sha256 (object {pointer.short}); it was not kept")


# -- the endpoint, derived as git-lfs derives it -------------------------------------------
def adopted(repo: Repo) -> bool:
    """Whether git-model serves this repository's `filter=lfs` paths (`git model install`)."""
    return repo.config("filter.lfs.process") == "git-model filter-process"


def derived_endpoint(repo: Repo) -> str | None:
    """The LFS endpoint git-lfs would use (https://github.com/git-lfs/git-lfs/blob/main/docs/
    api/server-discovery.md): `lfs.url` (.git/config, then a committed `.lfsconfig`),
    `remote.<name>.lfsurl` (the same two places), else `<git remote url>/info/lfs` (an ssh
    remote maps to https on its host; connect.py then asks `git-lfs-authenticate`). Only
    http(s) endpoints are returned."""
    branch = repo.git("symbolic-ref", "-q", "--short", "HEAD", check=False).strip()
    name = (branch and repo.config(f"branch.{branch}.remote")) or "origin"
    lfsconfig = repo.top / ".lfsconfig"
    committed: dict[str, str] = {}
    if lfsconfig.is_file():
        out = repo.git("config", "-f", str(lfsconfig), "--get-regexp", r"^(lfs\.url|remote\..*\.lfsurl)$",
                       check=False)
        committed = dict(line.partition(" ")[::2] for line in out.splitlines())
    # as git-lfs 3.3 does: `lfs.url` anywhere beats `remote.<name>.lfsurl`; .git/config beats
    # .lfsconfig for the same key
    for url in (repo.config("lfs.url"), committed.get("lfs.url"),
                repo.config(f"remote.{name}.lfsurl"), committed.get(f"remote.{name.lower()}.lfsurl")):
        if url:
            return url if is_lfs_url(url) else None
    git_url = repo.config(f"remote.{name}.url")
    return lfs_url_of(git_url) if git_url else None


def lfs_url_of(git_url: str) -> str | None:
    """`<git remote url>/info/lfs`, with `.git` added when missing; ssh and scp-like URLs map
    to https on the same host. None for a local path."""
    url = git_url.rstrip("/")
    if url.startswith("ssh://"):
        parts = urlsplit(url)
        url = f"https://{parts.hostname}{parts.path}"
    elif "://" not in url and ":" in url.split("/", 1)[0]:
        host, _, path = url.partition(":")
        url = f"https://{host.rpartition('@')[2]}/{path.lstrip('/')}"
    if not is_lfs_url(url):
        return None
    url, _, _ = _strip_userinfo(url)
    return (url if url.endswith(".git") else url + ".git") + "/info/lfs"
