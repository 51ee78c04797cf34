"""Downloading checkpoints over HTTP(S), Google Drive included.

The model zoo publishes its checkpoints on Google Drive, which does not simply hand out a file:
a large file first gets a "can't scan this file for viruses" page whose form carries the real
download link, a popular file gets a "too many users ... quota" page, and a file that is not
shared (or a login wall) gets some other web page. :func:`fetch` follows the confirmation page
(a ``download-form`` form, an older ``confirm=`` link or a ``download_warning`` cookie), turns
the others into a :class:`~aotvideo.errors.DownloadError` that says what happened, and refuses
any web page where a checkpoint was expected.

Transfers are resumable: data goes into a ``.part`` file next to a small ``.json`` note of the
URL and the server's validator (ETag or Last-Modified). A transfer that breaks off is resumed
with an HTTP ``Range`` request (guarded by ``If-Range``: a file that changed on the server is
downloaded from the start again); a server that ignores ranges sends the whole file, and the
partial data is dropped. Nothing here decides where files end up or whether they are good
checkpoints: :mod:`aotvideo.zoo` checks the finished ``.part`` and renames it into place.

Configuration (:class:`DownloadSettings`, :meth:`DownloadSettings.from_env`):

``AOTVIDEO_OFFLINE=1``
    never touch the network (a :class:`~aotvideo.errors.DownloadError` instead);
``AOTVIDEO_GDRIVE_URL``
    where Google Drive downloads go, default ``https://drive.usercontent.google.com/download``
    (requests are ``URL?id=FILE_ID&export=download``); the tests point it at a local server.
"""
from __future__ import annotations

import contextlib
import html.parser
import json
import os
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import requests

from .errors import DownloadError

__all__ = [
    "DRIVE_URL",
    "DownloadProgress",
    "DownloadSettings",
    "ProgressCallback",
    "discard_partial",
    "drive_file_id",
    "drive_page_target",
    "fetch",
    "file_lock",
    "is_url",
    "request_url",
]

#: Google Drive's download endpoint (``?id=FILE_ID&export=download``).
DRIVE_URL = "https://drive.usercontent.google.com/download"
ENV_DRIVE_URL = "AOTVIDEO_GDRIVE_URL"
ENV_OFFLINE = "AOTVIDEO_OFFLINE"
ENV_MAX_MB = "AOTVIDEO_DOWNLOAD_MAX_MB"
ENV_DEADLINE = "AOTVIDEO_DOWNLOAD_DEADLINE"

MAX_BYTES = 1 << 30
"""Largest download accepted by default (1 GiB; the largest model-zoo checkpoint, SwinB-DeAOTL,
is about 300 MB)."""
DEADLINE = 7200.0
"""Longest a download may take by default, in seconds, resumptions included."""

_DRIVE_HOSTS = ("drive.google.com", "docs.google.com")
_PAGE_LIMIT = 1 << 20  # a confirmation page is a few KiB; never read more than this of a page
_MAX_PAGES = 4  # confirmation pages followed before giving up
_QUOTA_WORDS = ("too many users", "quota")


@dataclass(frozen=True)
class DownloadSettings:
    """How downloads behave.

    ``drive_url`` is Google Drive's download endpoint; ``offline`` forbids any network access;
    ``retries`` is how often a transfer that broke off is resumed within one call, waiting
    ``retry_wait`` seconds times the attempt number in between.  ``max_bytes`` bounds the file
    (a larger announced size is refused before any byte is kept, a body that grows past it is
    discarded); ``deadline`` bounds the whole call in seconds, however slowly the server sends
    (what arrived is kept for the next call to resume).  ``read_timeout`` only bounds the wait
    for each next byte.
    """

    drive_url: str = DRIVE_URL
    offline: bool = False
    connect_timeout: float = 15.0
    read_timeout: float = 60.0
    retries: int = 3
    retry_wait: float = 2.0
    chunk_size: int = 1 << 18
    max_bytes: int = MAX_BYTES
    deadline: float = DEADLINE

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DownloadSettings:
        """Settings from ``AOTVIDEO_OFFLINE``, ``AOTVIDEO_GDRIVE_URL``,
        ``AOTVIDEO_DOWNLOAD_MAX_MB`` and ``AOTVIDEO_DOWNLOAD_DEADLINE`` (seconds) (default:
        ``os.environ``).

        Raises:
            DownloadError: a limit that is not a positive number.
        """
        env = os.environ if environ is None else environ
        offline = env.get(ENV_OFFLINE, "").strip().lower() not in ("", "0", "false", "no")
        return cls(drive_url=env.get(ENV_DRIVE_URL, "").strip() or DRIVE_URL, offline=offline,
                   max_bytes=int(_positive(env, ENV_MAX_MB, MAX_BYTES / 2**20) * 2**20),
                   deadline=_positive(env, ENV_DEADLINE, DEADLINE))


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise DownloadError(f"{name} must be a positive number, got {text!r}")
    return value


@dataclass(frozen=True)
class DownloadProgress:
    """Where a download stands, for a progress display.

    ``phase`` is ``"start"`` (before the first byte), ``"data"`` (``done`` of ``total`` bytes,
    ``total`` ``None`` when the server does not say), ``"retry"`` (the transfer broke off and is
    resumed; ``message`` says why), ``"check"`` (the file is complete and being checked) or
    ``"done"`` (``message`` says where it went). ``resumed_from`` is the byte the transfer
    continued from (0 for a fresh one).
    """

    label: str
    url: str
    phase: str
    done: int = 0
    total: int | None = None
    resumed_from: int = 0
    message: str = ""


ProgressCallback = Callable[[DownloadProgress], None]


# -- URLs ------------------------------------------------------------------------------------------


def is_url(text: str) -> bool:
    """Whether ``text`` is an http(s) URL (and not a file name)."""
    return re.match(r"^https?://", text.strip(), re.IGNORECASE) is not None


def drive_file_id(url: str) -> str | None:
    """The file id of a Google Drive link (``.../file/d/ID/view``, ``...?id=ID``), else ``None``."""
    parts = urllib.parse.urlsplit(url)
    if (parts.hostname or "").lower() not in _DRIVE_HOSTS:
        return None
    match = re.match(r"^/file(?:/u/\d+)?/d/([-\w]+)", parts.path)
    if match:
        return match.group(1)
    ids = urllib.parse.parse_qs(parts.query).get("id", [])
    return ids[0] if len(ids) == 1 else None


def _with_query(url: str, params: Mapping[str, str]) -> str:
    """``url`` with ``params`` added to (or replacing those in) its query."""
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    query.update(params)
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def request_url(url: str, settings: DownloadSettings) -> str:
    """The URL actually requested for ``url``: a Google Drive link becomes a request to the
    (configurable) Drive download endpoint; any other URL is used as it is."""
    file_id = drive_file_id(url)
    if file_id is None:
        return url
    return _with_query(settings.drive_url, {"id": file_id, "export": "download"})


def _host(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts.netloc or url


# -- Google Drive's pages --------------------------------------------------------------------------


class _PageReader(html.parser.HTMLParser):
    """Collects what matters in a Drive page: forms with their hidden inputs, links, the text
    of ``uc-error`` elements, the title and the visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[tuple[str, str, dict[str, str]]] = []
        self.links: list[str] = []
        self.errors: list[str] = []
        self.title = ""
        self.words: list[str] = []
        self._inputs: dict[str, str] | None = None
        self._capture: str | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._inputs = {}
            self.forms.append((values.get("id", ""), values.get("action", ""), self._inputs))
        elif tag == "input" and self._inputs is not None and values.get("name"):
            if values.get("type", "text").lower() == "hidden":
                self._inputs[values["name"]] = values.get("value", "")
        elif tag == "a" and values.get("href"):
            self.links.append(values["href"])
        elif tag == "title":
            self._in_title = True
        if "uc-error" in values.get("class", "") and self._capture is None:
            self._capture = tag
            self.errors.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inputs = None
        elif tag == "title":
            self._in_title = False
        if tag == self._capture:
            self._capture = None

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._capture is not None:
            self.errors[-1] += data
        self.words.append(data)


def _squeeze(text: str) -> str:
    return " ".join(text.split())


def _confirmation_target(page: _PageReader, page_url: str, cookies: Mapping[str, str]) -> str | None:
    """The download link a confirmation page points to, if it is one."""
    for form_id, action, inputs in page.forms:
        if form_id == "download-form" or "confirm" in inputs:
            target = urllib.parse.urljoin(page_url, action or page_url)
            return _with_query(target, inputs)
    for href in page.links:
        target = urllib.parse.urljoin(page_url, href)
        if "confirm" in urllib.parse.parse_qs(urllib.parse.urlsplit(target).query):
            return target
    for name, value in cookies.items():
        if name.startswith("download_warning"):
            return _with_query(page_url, {"confirm": value})
    return None


def _read_html(page_html: str) -> _PageReader:
    page = _PageReader()
    page.feed(page_html)
    page.close()
    return page


def _page_problem(page: _PageReader) -> str | None:
    """What a Drive error page says (quota used up, file gone ...), or ``None``."""
    errors = [_squeeze(text) for text in page.errors if _squeeze(text)]
    text = _squeeze(" ".join(page.words)).lower()
    if any(word in text for word in _QUOTA_WORDS):
        said = f" ('{errors[-1]}')" if errors else ""
        return (f"Google Drive refuses the download for now: the file's download quota is used "
                f"up{said}; Drive lifts it within a day, so try again later")
    if errors:
        return f"Google Drive says: {' '.join(errors)}"
    return None


def drive_page_target(page_html: str, page_url: str, cookies: Mapping[str, str] | None = None) -> str:
    """Where to go from a web page Google Drive sent instead of the file.

    Returns the download link of a confirmation page (large files). Raises
    :class:`~aotvideo.errors.DownloadError` for a quota page, another Drive error page, or any
    other page (not shared, a login wall, not Drive at all).
    """
    page = _read_html(page_html)
    problem = _page_problem(page)
    if problem is not None:
        raise DownloadError(problem)
    target = _confirmation_target(page, page_url, cookies or {})
    if target is not None:
        return target
    title = _squeeze(page.title)
    named = f" ('{title}')" if title else ""
    raise DownloadError(
        f"{_host(page_url)} sent a web page{named} instead of the checkpoint file (is the link a "
        "direct download link, and is the file shared with anyone who has the link?)")


# -- the transfer ----------------------------------------------------------------------------------


class _Broken(Exception):
    """A transfer broke off (or could not start on a retry): resume it."""


class _Resumable(DownloadError):
    """A download failed for a reason that leaves the partial data valid (no network, too many
    breaks): the data is kept for the next try."""


@dataclass(frozen=True)
class _Job:
    """One file being fetched: the URL asked for, what is requested, where the data goes."""

    url: str
    first: str
    part: Path
    label: str
    settings: DownloadSettings
    progress: ProgressCallback | None
    deadline: float = 0.0
    """``time.monotonic()`` past which the call gives up (kept data resumable)."""

    @property
    def note(self) -> Path:
        return self.part.with_name(self.part.name + ".json")

    def report(self, phase: str, **values: Any) -> None:
        if self.progress is not None:
            self.progress(DownloadProgress(self.label, self.url, phase, **values))


def _read_note(job: _Job) -> dict[str, Any]:
    try:
        data = json.loads(job.note.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("url") == job.first else {}


def _write_note(job: _Job, validator: str | None, total: int | None) -> None:
    job.note.write_text(json.dumps({"url": job.first, "validator": validator, "total": total}),
                        encoding="utf-8")


def discard_partial(part: Path) -> None:
    """Remove a partial download and its note (nothing happens when they are not there)."""
    for path in (part, part.with_name(part.name + ".json")):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _resume_offset(job: _Job) -> tuple[int, str | None]:
    """Bytes already fetched for ``job`` (0 after a restart) and the validator they came with."""
    note = _read_note(job)
    if not note or not job.part.is_file():
        discard_partial(job.part)
        return 0, None
    return job.part.stat().st_size, note.get("validator")


def _session() -> requests.Session:
    session = requests.Session()
    session.headers.update({"User-Agent": "aotvideo", "Accept-Encoding": "identity"})
    return session


def _is_file_response(response: requests.Response) -> bool:
    disposition = response.headers.get("Content-Disposition", "").lower()
    if "attachment" in disposition:
        return True
    return not response.headers.get("Content-Type", "").lower().startswith("text/html")


def _http_failure(response: requests.Response, url: str) -> Exception:
    text = f"{_host(url)} answered HTTP {response.status_code} {response.reason or ''}".strip()
    if response.status_code == 429 or response.status_code >= 500:
        return _Broken(text)
    return DownloadError(text)


def _get(session: requests.Session, url: str, headers: Mapping[str, str], job: _Job,
         fetched: bool) -> requests.Response:
    """One GET; a failure to connect is final on a first try (no network), retried later on."""
    timeout = (job.settings.connect_timeout, job.settings.read_timeout)
    try:
        return session.get(url, headers=dict(headers), stream=True, timeout=timeout)
    except requests.TooManyRedirects as exc:
        raise DownloadError(f"{_host(url)} redirects in a loop (or more than "
                            f"{session.max_redirects} times)") from exc
    except (requests.exceptions.InvalidSchema, requests.exceptions.MissingSchema,
            requests.exceptions.InvalidURL) as exc:
        raise DownloadError(f"{_host(url)} redirected to an address aotvideo does not download "
                            f"from (only http and https): {_squeeze(str(exc))}") from exc
    except requests.RequestException as exc:
        reason = f"cannot reach {_host(url)} ({_squeeze(str(exc))})"
        if fetched:
            raise _Broken(reason) from exc
        raise _Resumable(f"no network? {reason}") from exc


def _open(session: requests.Session, job: _Job, offset: int, validator: str | None,
          fetched: bool) -> requests.Response:
    """The response that carries the file (or a 416), after any Drive confirmation pages."""
    headers: dict[str, str] = {}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if validator:
            headers["If-Range"] = validator
    url = job.first
    for _ in range(_MAX_PAGES):
        response = _get(session, url, headers, job, fetched)
        html_page = response.headers.get("Content-Type", "").lower().startswith("text/html")
        if response.status_code == 416 or (response.status_code < 400 and _is_file_response(response)):
            return response
        if response.status_code >= 400:
            problem = _page_problem(_read_html(_read_page(response))) if html_page else None
            response.close()
            if problem is not None:
                raise DownloadError(problem)
            raise _http_failure(response, url)
        page = _read_page(response)
        url = drive_page_target(page, response.url or url, session.cookies.get_dict())
    raise DownloadError(f"{_host(job.first)} kept sending web pages instead of the file")


def _read_page(response: requests.Response) -> str:
    try:
        data = b""
        for chunk in response.iter_content(64 << 10):
            data += chunk
            if len(data) >= _PAGE_LIMIT:
                break
    except requests.RequestException as exc:
        raise _Broken(f"the connection broke while reading a page: {exc}") from exc
    finally:
        response.close()
    return data.decode(response.encoding or "utf-8", errors="replace")


def _content_range(response: requests.Response) -> tuple[int | None, int | None]:
    """``(first byte, total size)`` from a Content-Range header (either may be ``None``)."""
    match = re.match(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)", response.headers.get("Content-Range", ""))
    if not match:
        return None, None
    start = int(match.group(1)) if match.group(1) else None
    total = int(match.group(2)) if match.group(2) != "*" else None
    return start, total


def _length(response: requests.Response) -> int | None:
    value = response.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


def _start_position(response: requests.Response, offset: int) -> tuple[int, int | None]:
    """Where the response's bytes go in the file, and the file's full size when known.

    A 206 that starts at ``offset`` continues the partial file; a 200 (the server ignores
    ranges, or the file changed) starts it again from 0.
    """
    if response.status_code == 206:
        start, total = _content_range(response)
        if start != offset:
            raise _Broken(f"the server resumed at byte {start} instead of {offset}")
        length = _length(response)
        return offset, total if total is not None else (offset + length if length is not None else None)
    return 0, _length(response)


def _looks_like_html(head: bytes) -> bool:
    start = head.lstrip()[:64].lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head", b"<body"))


def _copy_body(response: requests.Response, handle: IO[bytes], job: _Job, start: int,
               total: int | None) -> int:
    """Stream the response into ``handle``; returns the bytes in the file afterwards."""
    done = start
    last = time.monotonic()
    try:
        # chunks as they arrive (at most chunk_size): a server that trickles bytes cannot hold
        # a read open past the deadline by never filling a chunk
        for chunk in _arriving(response, job.settings.chunk_size):
            if done == 0 and _looks_like_html(chunk):
                raise DownloadError(
                    f"{_host(job.first)} sent a web page instead of the checkpoint file (is it a "
                    "direct download link?)")
            handle.write(chunk)
            done += len(chunk)
            if done > job.settings.max_bytes:
                raise DownloadError(_too_big(job, f"sent more than {done - len(chunk)} bytes"))
            now = time.monotonic()
            if now > job.deadline:
                raise _Resumable(_late(job, done))
            if now - last >= 0.1 or (total is not None and done >= total):
                last = now
                job.report("data", done=done, total=total, resumed_from=start)
    except requests.RequestException as exc:
        raise _Broken(f"the connection broke off after {done} bytes ({_squeeze(str(exc))})") from exc
    return done


def _arriving(response: requests.Response, most: int) -> Iterator[bytes]:
    """The body's bytes as the network delivers them, in pieces of at most ``most`` bytes."""
    import urllib3

    raw = response.raw
    if not hasattr(raw, "read1"):  # urllib3 before 2.0
        yield from response.iter_content(most)
        return
    while True:  # urllib3 2: whatever is there, without waiting for more
        try:
            chunk = raw.read1(most, decode_content=True)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise requests.ConnectionError(str(exc)) from exc
        if not chunk:
            return
        yield chunk


def _too_big(job: _Job, what: str) -> str:
    limit = job.settings.max_bytes
    return (f"{_host(job.first)} {what}: more than the {limit / 2**20:.0f} MiB a download may "
            f"have ({ENV_MAX_MB} raises the limit)")


def _late(job: _Job, done: int) -> str:
    return (f"the download took longer than {job.settings.deadline:.0f} s ({ENV_DEADLINE} "
            f"raises the limit); {done} bytes are kept, and the next download resumes from there")


def _attempt(session: requests.Session, job: _Job, fetched: bool) -> int:
    """One try at completing ``job.part``; returns its size. Raises :class:`_Broken` when the
    transfer breaks off (the data so far is kept), :class:`DownloadError` when it cannot work."""
    offset, validator = _resume_offset(job)
    response = _open(session, job, offset, validator, fetched)
    with response:
        if response.status_code == 416:
            _, total = _content_range(response)
            if total is not None and total == offset:
                return offset
            discard_partial(job.part)
            raise _Broken("the partial download does not fit the file on the server; starting again")
        start, total = _start_position(response, offset)
        if total is not None and total > job.settings.max_bytes:
            discard_partial(job.part)
            raise DownloadError(_too_big(job, f"announces {total} bytes"))
        headers = response.headers
        _write_note(job, headers.get("ETag") or headers.get("Last-Modified"), total)
        with open(job.part, "r+b" if start else "wb") as handle:
            handle.seek(start)
            handle.truncate()
            done = _copy_body(response, handle, job, start, total)
    if total is not None and done < total:
        raise _Broken(f"the connection closed after {done} of {total} bytes")
    if total is not None and done > total:
        discard_partial(job.part)
        raise DownloadError(f"{_host(job.first)} sent {done} bytes where it announced {total}")
    return done


def fetch(url: str, part: str | os.PathLike[str], *, label: str = "",
          settings: DownloadSettings | None = None, progress: ProgressCallback | None = None) -> int:
    """Download ``url`` into the file ``part`` (resuming what an earlier call left there); returns
    the number of bytes.

    ``url`` may be a Google Drive link (see :func:`request_url`). A transfer that breaks off is
    resumed up to ``settings.retries`` times; when it still fails the data stays in ``part`` for
    the next call to resume. Any other failure removes ``part``. ``progress`` gets
    :class:`DownloadProgress` updates (``label`` names the download in them).

    Raises :class:`~aotvideo.errors.DownloadError`.
    """
    settings = settings or DownloadSettings.from_env()
    if settings.offline:
        raise DownloadError(f"downloads are off ({ENV_OFFLINE}=1)")
    job = _Job(url, request_url(url, settings), Path(part), label or url, settings, progress,
               time.monotonic() + settings.deadline)
    job.part.parent.mkdir(parents=True, exist_ok=True)
    session = _session()
    attempt = 0
    try:
        job.report("start", resumed_from=_resume_offset(job)[0])
        while True:
            try:
                return _attempt(session, job, fetched=attempt > 0)
            except _Broken as exc:
                attempt += 1
                if attempt > settings.retries:
                    kept = job.part.stat().st_size if job.part.exists() else 0
                    raise _Resumable(
                        f"{exc}; gave up after {attempt} tries ({kept} bytes are kept, and the "
                        "next download resumes from there)") from exc
                job.report("retry", message=f"{exc}; resuming (try {attempt + 1})")
                if time.monotonic() + settings.retry_wait * attempt > job.deadline:
                    kept = job.part.stat().st_size if job.part.exists() else 0
                    raise _Resumable(_late(job, kept)) from exc
                time.sleep(settings.retry_wait * attempt)
    except _Resumable:
        raise
    except DownloadError:
        discard_partial(job.part)
        raise
    except OSError as exc:
        discard_partial(job.part)
        raise DownloadError(f"cannot write {job.part}: {exc.strerror or exc}") from exc
    finally:
        session.close()


@contextlib.contextmanager
def file_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created when missing) for the ``with`` block, so two
    processes never download into the same file. Without ``fcntl`` (Windows) it does nothing."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
