"""Shared model remotes: their configuration and the storage they live on.

Configuration lives in `.gitmodel` at the repository root, in git-config format
(read and written with `git config -f`, like .gitmodules), and is committed so
that every clone knows where the team's objects are:

    [remote "shared"]
        url = s3://team-models/project-x
    [core]
        remote = shared

A clone may override a URL in its own .git/config (`model.remote.NAME.url`).
Only the `remote` and `core` sections are ours; other sections (pipeline
stages) belong to other commands and are left untouched.

The storage is reached through fsspec (local paths, s3:// with s3fs, ssh:// and
sftp:// with sshfs), imported only when a transfer needs it so that the CLI
and the filter process start fast. Its layout mirrors the local cache:

    chunks/<2 hex>/<32 hex>      encoded chunks, byte for byte as in the cache
    manifests/<2 hex>/<64 hex>   manifests, uploaded after all of their chunks
    packs/pack-<32 hex>.pack     small files' chunks and manifests, many to a file,
    packs/pack-<32 hex>.idx      and the index that makes them visible, uploaded last
    tmp/                         uploads in progress (renamed into place)
"""
from __future__ import annotations

import errno
import functools
import os
import random
import re
import time
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

from gitmodel.errors import UserError
from gitmodel.git import trust
from gitmodel.git.repo import GITMODEL, Repo, cat_batch, gitmodel_key, regular_file
from gitmodel.store.atomic import pause_point

CONFIG_FILE = GITMODEL
_WANTED = re.compile(r"^(remote\..*\.url|core\.remote)$")  # the keys read from it
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SCHEMES = ("file", "s3", "ssh", "sftp", "http", "https")  # http(s): a Git LFS server (lfs.py)
STALE_TMP = 86400.0  # a temporary upload older than a day belongs to a push that died


class RemoteError(UserError):
    """A remote could not be reached or misbehaved; the message names it.

    `transient` says whether the same request may succeed later (a dropped connection, a
    timeout, a server asking to slow down): those are retried here, and what still fails
    exits with its own code so that a script knows a later retry may work."""

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


# Transient failures are retried with exponential backoff and jitter (restic and git-lfs do
# the same): 4 tries over about 3.5 s, enough for a restarting server or a throttled bucket.
RETRIES = 4
BACKOFF = 0.5
_T = TypeVar("_T")


def retried(method: Callable[..., _T]) -> Callable[..., _T]:
    """Run a Backend method again while it fails with a transient RemoteError."""
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> _T:
        for attempt in range(RETRIES):
            try:
                return method(*args, **kwargs)
            except RemoteError as exc:
                if not exc.transient or attempt == RETRIES - 1:
                    if exc.transient:
                        exc.args = (f"{exc} (tried {RETRIES} times: try again later)",)
                    raise
                time.sleep(BACKOFF * 2 ** attempt * (0.5 + random.random()))
        raise AssertionError("unreachable")
    return wrapper


@dataclass(frozen=True)
class Remote:
    """A named remote and the URL this clone uses for it."""

    name: str
    url: str

    @property
    def display(self) -> str:
        """The URL without any password, safe to print."""
        return redact(self.url)


def url_digest(url: str) -> str:
    """16 hex digits that name what a clone keeps per remote URL (the settled record, the
    copies of its pack indexes)."""
    import hashlib  # OpenSSL's load, only for the callers that need it
    return hashlib.blake2b(url.encode(), digest_size=8).hexdigest()


def redact(url: str) -> str:
    """`url` safe to print or store: a password becomes ***, and so does the whole user part
    of any scheme but ssh/sftp (where it is a login name): `https://TOKEN@host` is common."""
    if "@" not in url or "://" not in url:
        return url
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return redact_text(url)
    if parts.username is None and parts.password is None:
        return url
    keep_user = parts.scheme in ("ssh", "sftp") and parts.username
    user = f"{parts.username}:***" if keep_user and parts.password is not None else (
        parts.username if keep_user else "***")
    netloc = f"{user}@{parts.hostname or ''}" + (f":{port}" if port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def secret_in(url: str) -> bool:
    """Whether `url` carries credentials that must not be committed (see `redact`)."""
    return redact(url) != url


# -- configuration ------------------------------------------------------------------
def _config_source(repo: Repo, rev: str | None) -> list[str]:
    """Where `.gitmodel` is read from: commit `rev` when given (no work tree), else
    the working tree, else the index, else HEAD, else the newest branch tip that has one.

    During a checkout the models may be smudged before `.gitmodel` itself is
    written, so the committed copy is the fallback (as git-lfs does with .lfsconfig).
    The remotes are today's configuration, not the configuration of the commit
    being fetched: at a commit older than `.gitmodel` (a detached HEAD, a bisect),
    the branches still say where the objects are.
    """
    if rev is not None:
        return [f"--blob={rev}:{CONFIG_FILE}"]
    if regular_file(repo.top / CONFIG_FILE):
        return ["-f", str(repo.top / CONFIG_FILE)]
    for blob in (f":{CONFIG_FILE}", f"HEAD:{CONFIG_FILE}"):
        if repo.git("rev-parse", "-q", "--verify", blob, check=False).strip():
            return [f"--blob={blob}"]
    tip = _newest_tip_with_config(repo)
    return [f"--blob={tip}:{CONFIG_FILE}"] if tip else []


def _newest_tip_with_config(repo: Repo, limit: int = 64) -> str | None:
    """The most recently committed branch (local, then remote-tracking) holding `.gitmodel`."""
    out = repo.git("for-each-ref", "--sort=-committerdate", f"--count={limit}",
                   "--format=%(objectname)", "refs/heads", "refs/remotes", check=False)
    tips = [line for line in out.split() if line]
    for tip, data in zip(tips, cat_batch(repo.top, [f"{t}:{CONFIG_FILE}" for t in tips])):
        if data is not None:
            return tip
    return None


_READ: weakref.WeakKeyDictionary[Repo, dict[tuple, dict[str, str]]] = weakref.WeakKeyDictionary()


def _read_config(repo: Repo, rev: str | None = None) -> dict[str, str]:
    """The `remote.*.url` and `core.remote` keys of .gitmodel, read once per process while
    the work tree's copy is unchanged (a status asked twice, at two git processes each)."""
    try:
        st = os.stat(repo.top / CONFIG_FILE)
        key: tuple = (rev, st.st_mtime_ns, st.st_size, st.st_ino)
    except OSError:
        key = (rev, None)
    memo = _READ.setdefault(repo, {})
    if key not in memo:
        memo[key] = _read_config_now(repo, rev)
    return dict(memo[key])


def _read_config_now(repo: Repo, rev: str | None) -> dict[str, str]:
    read = repo.gitmodel_config() if rev is None else None
    if read is not None and read[0] == gitmodel_key(repo.top / CONFIG_FILE):
        return {key: value for key, value in read[1].items() if _WANTED.match(key)}
    source = _config_source(repo, rev)
    if not source:
        return {}
    out = repo.git("config", *source, "--get-regexp", _WANTED.pattern,
                   check=False)
    values = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        values[key] = value
    return values


def list_remotes(repo: Repo, rev: str | None = None) -> list[Remote]:
    """Remotes from .gitmodel plus this clone's own, each with this clone's URL."""
    names: dict[str, str] = {}
    for key, url in _read_config(repo, rev).items():
        if key.startswith("remote."):
            names[key[len("remote."):-len(".url")]] = url
    for key, url in repo.config_matching("model.remote.", ".url").items():
        names[key[len("model.remote."):-len(".url")]] = url
    return [Remote(name, url) for name, url in sorted(names.items())]


def default_name(repo: Repo, rev: str | None = None) -> str | None:
    """`core.remote` of .gitmodel; failing that, the only remote when there is exactly one
    (one set in `.git/config` alone, `model.remote.NAME.url`, counts)."""
    default = _read_config(repo, rev).get("core.remote")
    if default is None:
        names = list_remotes(repo, rev)
        if len(names) == 1:
            return names[0].name
    return default


def resolve(repo: Repo, name: str | None, rev: str | None = None) -> Remote:
    """The remote called `name`, or the default one; UserError when there is none."""
    remotes = {r.name: r for r in list_remotes(repo, rev)}
    if name is None:
        name = default_name(repo, rev)
        if name is None:
            raise UserError("no model remote configured: run `git model remote add NAME URL`")
    if name not in remotes:
        known = ", ".join(remotes) or "none"
        raise UserError(f"no model remote named {name!r} (configured: {known})")
    return remotes[name]


def _check_name(name: str) -> None:
    if not _NAME_RE.fullmatch(name):
        raise UserError(f"invalid remote name {name!r}: use letters, digits, '.', '_' or '-'")


def _check_url(url: str) -> None:
    if not url.strip() or any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise UserError(f"invalid remote URL {url!r}: give a path or a URL without control "
                        "characters")
    try:
        scheme = urlsplit(url).scheme
    except ValueError:
        raise UserError(f"invalid remote URL {redact(url)!r}") from None
    if "://" in url and scheme not in SCHEMES:
        raise UserError(f"unsupported remote URL scheme {scheme!r}: use a path, "
                        "file://, s3://, ssh://, sftp:// or https://…/info/lfs")


def _set(repo: Repo, *args: str) -> None:
    regular_file(repo.top / CONFIG_FILE)  # `git config -f` would write through a symlink
    repo.git("config", "-f", str(repo.top / CONFIG_FILE), *args)


def add(repo: Repo, name: str, url: str) -> bool:
    """Add a remote to .gitmodel; return True when it became the default."""
    _check_name(name)
    _check_url(url)
    if secret_in(url):
        raise UserError(f"{redact(url)}: credentials in a URL would be committed with "
                        f"{CONFIG_FILE}: give the URL without them and use an ssh key or agent, "
                        "AWS_PROFILE, or set it in this clone only: "
                        f"git config model.remote.{name}.url URL")
    if any(r.name == name for r in list_remotes(repo)):
        raise UserError(f"model remote {name!r} already exists (git model remote remove {name})")
    _set(repo, f"remote.{name}.url", url)
    trust.record(repo, [trust.digest("remote", name, url)])  # yours: no confirmation asked
    if _read_config(repo).get("core.remote") is None:
        _set(repo, "core.remote", name)
        return True
    return False


def remove(repo: Repo, name: str) -> None:
    _check_name(name)
    path = repo.top / CONFIG_FILE
    if repo.git("config", "-f", str(path), "--get", f"remote.{name}.url", check=False) == "":
        raise UserError(f"no model remote named {name!r} in {CONFIG_FILE}")
    _set(repo, "--remove-section", f"remote.{name}")
    if _read_config(repo).get("core.remote") == name:
        _set(repo, "--unset", "core.remote")


def require_confirmed(repo: Repo, remote: Remote) -> None:
    """Before the first upload: a URL that came with the repository's committed `.gitmodel`
    (not this clone's own config, not one typed on the command line) must have been
    confirmed here (`git model trust`, or added with `git model remote add`)."""
    if repo.config(f"model.remote.{remote.name}.url") == remote.url:
        return
    if _read_config(repo).get(f"remote.{remote.name}.url") != remote.url:
        return
    if trust.digest("remote", remote.name, remote.url) in trust.trusted(repo):
        return
    raise UserError(f"model remote {remote.name!r} ({remote.display}) comes from the "
                    f"repository's {CONFIG_FILE} and was never confirmed in this clone: check "
                    "the URL, then `git model trust` (or set your own: git config "
                    f"model.remote.{remote.name}.url URL)")


def set_default(repo: Repo, name: str) -> None:
    resolve(repo, name)
    _set(repo, "core.remote", name)


# -- storage ------------------------------------------------------------------------
class Backend:
    """One remote's storage: existence, listing, reading and atomic writing of keys.

    Keys are built by the caller from validated ids (`chunks/ab/ab...`); every
    method turns a backend failure into a RemoteError naming the remote.
    """

    def __init__(self, remote: Remote, fs: Any, root: str, atomic_put: bool) -> None:
        self.remote = remote
        self.fs = fs
        self.root = root.rstrip("/")
        self.atomic_put = atomic_put  # a single PUT is atomic (S3): no temp name needed
        self._made: set[str] = set()
        self.pack_index: dict[tuple[str, str], tuple[str, int, int]] | None = None  # engine's
        self.index_cache: Path | None = None  # where the engine keeps this remote's pack indexes

    @property
    def name(self) -> str:
        return self.remote.name

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}"

    @property
    def local(self) -> bool:
        """Whether the remote is a folder on this machine (a directory remote)."""
        return "file" in getattr(self.fs, "protocol", ())

    def local_file(self, key: str) -> str | None:
        """Where `key` is on this machine's filesystem (a directory remote), else None."""
        return self._path(key) if self.local else None

    @retried
    def exists(self, key: str) -> bool:
        with self.errors("cannot check"):
            return self.fs.exists(self._path(key))

    @retried
    def names(self, prefix: str) -> set[str]:
        """The file names directly under `prefix` (one listing call)."""
        with self.errors("cannot list"):
            try:
                entries = self.fs.ls(self._path(prefix), detail=False, **self._ls_kwargs())
            except FileNotFoundError:
                return set()
        return {entry.rstrip("/").rsplit("/", 1)[-1] for entry in entries}

    @retried
    def root_exists(self) -> bool:
        """Whether the remote's top folder exists (an S3 prefix always does once the
        bucket answers: S3 has no folders)."""
        with self.errors("cannot reach"):
            if self.atomic_put:
                self.fs.ls(self.root.split("/", 1)[0], detail=False, **self._ls_kwargs())
                return True
            return self.fs.isdir(self.root)

    def require_root(self, connect: bool = False) -> None:
        """Before a download: a directory remote that is not there is named as such, not
        as one that lacks each object. `connect` (`remote add --check`) asks an S3 bucket
        too (a request; a download finds out with its first one)."""
        if (connect or not self.atomic_put) and not self.root_exists():
            raise RemoteError(f"model remote {self.name!r}: remote path does not exist "
                              f"({self.remote.display}): check the URL (git model remote list)")

    def _ls_kwargs(self) -> dict:
        return {"refresh": True} if self.atomic_put else {}

    @retried
    def read(self, key: str, limit: int) -> bytes | None:
        """The bytes stored under `key`, or None when it does not exist.

        At most `limit` bytes are accepted, and no more than one past it is read:
        the remote does not decide how much memory a download takes.
        """
        with self.errors("cannot download from"):
            try:
                data = self.fs.cat_file(self._path(key), start=0, end=limit + 1)
            except FileNotFoundError:
                return None
        if len(data) > limit:
            raise RemoteError(f"model remote {self.name!r} holds an oversized {key} "
                              f"(more than {limit} bytes): it was not read")
        return data

    @retried
    def read_range(self, key: str, offset: int, length: int) -> bytes | None:
        """`length` bytes at `offset` of `key` (one ranged GET on S3); None when the
        object is not there, a RemoteError when it is shorter."""
        with self.errors("cannot download from"):
            try:
                data = self.fs.cat_file(self._path(key), start=offset, end=offset + length)
            except FileNotFoundError:
                return None
        if len(data) != length:
            raise RemoteError(f"model remote {self.name!r} holds a truncated {key}: it was not used")
        return data

    @retried
    def write(self, key: str, data: bytes | bytearray) -> None:
        """Store `data` under `key` so that no reader ever sees part of it."""
        with self.errors("cannot upload to"):
            final = self._path(key)
            if self.atomic_put:
                self.fs.pipe_file(final, data)
                return
            self._makedirs(final.rsplit("/", 1)[0])
            self._makedirs(self._path("tmp"))
            tmp = self._path(f"tmp/{uuid.uuid4().hex}.part")
            self.fs.pipe_file(tmp, data)
            pause_point("upload")
            self.fs.mv(tmp, final)

    @retried
    def remove_stale_tmp(self, age: float = STALE_TMP) -> int:
        """Delete uploads left in tmp/ by pushes killed more than `age` seconds ago
        (a running push's temporary file is minutes old at most); return how many."""
        if self.atomic_put:
            return 0  # S3 puts are atomic: nothing is ever left in tmp/
        cutoff = time.time() - age
        removed = 0
        with self.errors("cannot clean up"):
            try:
                entries = self.fs.ls(self._path("tmp"), detail=True)
            except FileNotFoundError:
                return 0
            for entry in entries:
                mtime = entry.get("mtime")
                mtime = mtime.timestamp() if hasattr(mtime, "timestamp") else mtime
                if (entry.get("type") == "file" and str(entry["name"]).endswith(".part")
                        and isinstance(mtime, (int, float)) and mtime < cutoff):
                    self.fs.rm_file(entry["name"])
                    removed += 1
        return removed

    def _makedirs(self, path: str) -> None:
        if path not in self._made:
            self.fs.makedirs(path, exist_ok=True)
            self._made.add(path)

    def errors(self, doing: str) -> _Translate:
        return _Translate(self.remote, doing)


class _Translate:
    """Turn any backend exception into one line naming the remote (never its credentials)."""

    def __init__(self, remote: Remote, doing: str) -> None:
        self.remote, self.doing = remote, doing

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        if exc is None or isinstance(exc, (UserError, FileNotFoundError, KeyboardInterrupt)):
            return False
        reason = _reason(exc)
        raise RemoteError(f"{self.doing} model remote {self.remote.name!r} "
                          f"({self.remote.display}): {reason}", transient(exc)) from None


_TRANSIENT_ERRNO = {errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT, errno.EPIPE,
                    errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.EAGAIN}
# botocore's error codes and asyncssh's exceptions that mean "not now" rather than "no".
_TRANSIENT_CODES = ("SlowDown", "Throttling", "RequestTimeout", "InternalError",
                    "ServiceUnavailable", "503", "500", "502", "504")
_TRANSIENT_NAMES = {"ConnectionLost", "EndpointConnectionError", "ConnectTimeoutError",
                    "ReadTimeoutError", "ConnectionClosedError", "ClientPayloadError",
                    "ServerDisconnectedError", "ServerTimeoutError", "IncompleteRead"}


def transient(exc: BaseException) -> bool:
    """Whether the failed request may succeed if tried again (s3fs and sshfs wrap the
    client library's exception: its cause is looked at too)."""
    cause = exc.__cause__ or exc.__context__
    return _transient(exc) or (cause is not None and cause is not exc and _transient(cause))


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, (TimeoutError, ConnectionResetError, ConnectionAbortedError,
                        BrokenPipeError)):
        return True
    if type(exc).__name__ in _TRANSIENT_NAMES:
        return True
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNO:
        return True
    code = getattr(exc, "response", None)
    if isinstance(code, dict):
        error = code.get("Error", {}).get("Code", "")
        status = str(code.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        return error in _TRANSIENT_CODES or status in _TRANSIENT_CODES
    return False


def _reason(exc: BaseException) -> str:
    """A short, credential-free reason for a backend failure."""
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if name in ("PermissionDenied",) or "Permission denied" in text:
        return "authentication failed (check your ssh agent or keys)"
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return "no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID)"
    if name == "HostKeyNotVerifiable":
        return "the server's host key is not in ~/.ssh/known_hosts"
    if "InvalidAccessKeyId" in text or "SignatureDoesNotMatch" in text:
        return "the AWS credentials were rejected (access key or secret is wrong)"
    if isinstance(exc, PermissionError):
        return "permission denied (the credentials were rejected or lack access)"
    if isinstance(exc, (ConnectionError, OSError)) and not text:
        return f"connection failed ({name})"
    return f"{text or name}"[:300]


class _LocalFiles:
    """fsspec's local file system, loaded at the first use other than a read: a push with
    nothing new reads the remote's token alone, and fsspec's import was ~35 ms of it."""

    protocol = ("file", "local")  # as fsspec's: `Backend.local` asks without the import

    def __init__(self) -> None:
        self._fs: Any = None

    @staticmethod
    def isdir(path: str) -> bool:
        """As fsspec's (a pull's first question: fsspec's import was 0.07 s of a pull)."""
        return os.path.isdir(path)

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list:
        """As fsspec's; names only without the import (what a fetch lists: packs/)."""
        if detail or kwargs:
            return self.__getattr__("ls")(path, detail=detail, **kwargs)
        if not os.path.isdir(path):
            if os.path.lexists(path):
                return [path]
            raise FileNotFoundError(path)
        return [f"{path.rstrip('/')}/{name}" for name in os.listdir(path)]

    def cat_file(self, path: str, start: int = 0, end: int | None = None) -> bytes:
        """Bytes `start` to `end` of the file (as fsspec's, for offsets from the start)."""
        with open(path, "rb") as handle:
            handle.seek(start)
            return handle.read(-1 if end is None else max(0, end - start))

    def __getattr__(self, name: str) -> Any:
        if self._fs is None:
            import fsspec
            self._fs = fsspec.filesystem("file")
        return getattr(self._fs, name)


def is_lfs_url(url: str) -> bool:
    """An http(s) URL: a Git LFS server (transfer/lfs.py), not storage reached through fsspec."""
    return urlsplit(url).scheme in ("http", "https") and "://" in url


def open_backend(repo_top: Path | None, remote: Remote) -> Backend:
    """Connect to a remote's storage; relative paths are relative to `repo_top`."""
    url = remote.url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a bad port raises here, not inside a backend)
    except ValueError:
        raise UserError(f"model remote {remote.name!r}: {remote.display} is not a valid URL"
                        ) from None
    scheme = parts.scheme if "://" in url else "file"
    if scheme not in ("file", "s3", "ssh", "sftp"):  # `gopher://` must not fall into SSH
        raise UserError(f"model remote {remote.name!r}: unsupported URL scheme {scheme!r} "
                        f"({remote.display}): use a path, file://, s3://, ssh://, sftp:// "
                        "or https://…/info/lfs")
    with _Translate(remote, "cannot connect to"):
        if scheme == "file":
            path = Path(parts.path if "://" in url else url).expanduser()
            if not path.is_absolute():
                path = (repo_top or Path.cwd()) / path
            return Backend(remote, _LocalFiles(), str(path.resolve()), False)
        if scheme == "s3":
            s3fs = _import_extra("s3fs", "s3")
            # one retry layer, ours (`retried`): botocore's 5 attempts times s3fs's 5 times
            # our 4 made a dead endpoint take 34 s to report; now about 4 s
            fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False,
                                   config_kwargs={"retries": {"total_max_attempts": 1}})
            fs.retries = 1
            root = f"{parts.netloc}/{parts.path.strip('/')}".rstrip("/")
            return Backend(remote, fs, root, True)
        sshfs = _import_extra("sshfs", "ssh")
        if not parts.hostname:
            raise UserError(f"model remote {remote.name!r}: {remote.display} has no host")
        login = {k: v for k, v in (("username", parts.username), ("password", parts.password)) if v}
        # known_hosts=() means asyncssh's default (~/.ssh/known_hosts): sshfs would disable it
        fs = sshfs.SSHFileSystem(parts.hostname, port=parts.port or 22, known_hosts=(),
                                 skip_instance_cache=True, timeout=30, **login)
        return Backend(remote, fs, parts.path or "/", False)


def _import_extra(module: str, extra: str) -> Any:
    """The library behind a remote scheme; when it is missing, say which extra brings it.
    What it warns of while it loads is for its maintainers, not for the user of a remote:
    with cryptography 51, asyncssh's import printed ten lines on DSA's deprecation before
    every ssh command's own output."""
    import importlib
    import warnings
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(module)
    except ImportError:
        raise UserError(f"this remote needs {module}: install the {extra} extra: "
                        f"pip install 'git-model[{extra}]'") from None


_USERINFO = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*)://([^/@\s]*)@")


def redact_text(text: str) -> str:
    """Credentials in any URL inside `text` (a git error line) replaced by *** (`redact`)."""
    def hide(match: re.Match[str]) -> str:
        scheme, user = match.group(1), match.group(2)
        if scheme.lower() in ("ssh", "sftp") and ":" not in user:
            return match.group(0)
        login = user.split(":", 1)[0] if scheme.lower() in ("ssh", "sftp") else ""
        return f"{scheme}://{login + ':' if login else ''}***@"
    return _USERINFO.sub(hide, text)


def git_url_top(url: str) -> Path | None:
    """For a git URL that is a local path, the repository folder (for relative remote paths)."""
    if "://" in url and not url.startswith("file://"):
        return None
    path = Path(urlsplit(url).path if url.startswith("file://") else url)
    return path.resolve() if path.exists() else None

