"""Where weights come from, and the per-user cache that holds installed checkpoints.

aotvideo ships one small model of its own (``deaott``, trained on synthetic videos; used when
nothing else is installed). The model zoo of the original AOT/DeAOT work publishes a checkpoint
for most variants (Google Drive links below). Such a checkpoint is downloaded on first use of its
variant (:func:`resolve_weights`) or with :func:`download_variant` (``aotvideo weights
download``); ``aotvideo weights add FILE`` (:func:`install`) installs one downloaded by hand.
Either way the file must load strictly into the variant before it is kept, and its SHA-256 is
recorded and checked again on every later use. ``--weights URL`` (:func:`download_url`) caches
any http(s) checkpoint the same way. ``AOTVIDEO_OFFLINE=1`` turns downloads off (see
:mod:`aotvideo.download`).

The cache is ``$AOTVIDEO_CACHE`` when set, else ``$XDG_CACHE_HOME/aotvideo`` (by default
``~/.cache/aotvideo``); weights live in its ``weights/`` folder with an ``index.json`` (section
``weights``: variant -> record; section ``urls``: URL -> record). Downloads in progress live in
``weights/partial/`` and are renamed into place only once complete and checked.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .download import (DownloadProgress, DownloadSettings, ProgressCallback, discard_partial, fetch,
                       file_lock, is_url)
from .errors import DownloadError, WeightsError

if TYPE_CHECKING:
    from .models import AOTModel

__all__ = [
    "DEFAULT_MODEL",
    "ZOO",
    "ZooEntry",
    "cache_dir",
    "download_url",
    "download_variant",
    "guess_variant",
    "PACKAGED_SHA256",
    "PINNED",
    "PACKAGED_WEIGHTS",
    "install",
    "installed",
    "load_model",
    "packaged_weights",
    "no_weights_message",
    "resolve_weights",
    "sha256_of",
    "verified_path",
    "weights_dir",
]

#: The variant ``aotvideo track`` uses unless told otherwise: the best small one.
DEFAULT_MODEL = "deaott"

#: Weights that ship inside the package (trained by aotvideo itself, see the README's model card).
PACKAGED_WEIGHTS = {"deaott": "deaott_real_v5.pth"}
#: Their SHA-256, checked before they are used.
PACKAGED_SHA256 = {"deaott": "d71f0eafaf6450b8725d3e2aac7d45491ae8e03343ef3677c44f8a0c8eca7454"}

_ZOO_PAGE = "https://github.com/yoxu515/aot-benchmark/blob/main/MODEL_ZOO.md"

PINNED: dict[str, tuple[int, str]] = {
    "r50_deaotl": (236_513_959, "7e8a8d83310739bac02817f6bf48b6bbe2bbd7d5325722f1084088eb3aee1e06"),
    "r50_aotl": (60_012_304, "396d4945bf122caecd8ee8ae43607e7c46606cc9eaddd6db2f4b3330d8d1c477"),
}
"""Model-zoo checkpoints whose size and SHA-256 are published (the public Git LFS pointers of the
zoo's files): a download of these must match before it is installed.  Other variants' hashes are
recorded on first download and checked on every use after it."""


@dataclass(frozen=True)
class ZooEntry:
    """One variant's published checkpoint (``url`` is ``None`` when none was published)."""

    name: str
    title: str
    checkpoint: str | None
    url: str | None
    params_m: float | None


def _gdrive(file_id: str) -> str:
    return f"https://drive.google.com/file/d/{file_id}/view"


#: The 14 variants, in model-zoo order, with their ``PRE_YTB_DAV`` (main training) checkpoints.
ZOO: dict[str, ZooEntry] = {
    e.name: e
    for e in (
        ZooEntry("aott", "AOTT", "AOTT_PRE_YTB_DAV.pth", _gdrive("1owPmwV4owd_ll6GuilzklqTyAd0ZvbCu"), 5.7),
        ZooEntry("aots", "AOTS", "AOTS_PRE_YTB_DAV.pth", _gdrive("1beU5E6Mdnr_pPrgjWvdWurKAIwJSz1xf"), 7.0),
        ZooEntry("aotb", "AOTB", "AOTB_PRE_YTB_DAV.pth", _gdrive("1hH-GOn4GAxHkV8ARcQzsUy8Ax6ndot-A"), 8.3),
        ZooEntry("aotl", "AOTL", "AOTL_PRE_YTB_DAV.pth", _gdrive("1L1N2hkSPqrwGgnW9GyFHuG59_EYYfTG4"), 8.3),
        ZooEntry("r50_aotl", "R50-AOTL", "R50_AOTL_PRE_YTB_DAV.pth",
                 _gdrive("1qJDYn3Ibpquu4ffYoQmVjg1YCbr2JQep"), 14.9),
        ZooEntry("r101_aotl", "R101-AOTL", None, None, None),
        ZooEntry("rs101_aotl", "ResNeSt101-AOTL", None, None, None),
        ZooEntry("swinb_aotl", "SwinB-AOTL", "SwinB_AOTL_PRE_YTB_DAV.pth",
                 _gdrive("192jCGQZdnuTsvX-CVra-KVZl2q1ZR0vW"), 65.4),
        ZooEntry("deaott", "DeAOTT", "DeAOTT_PRE_YTB_DAV.pth", _gdrive("1ThWIZQS03cYWx1EKNN8MIMnJS5eRowzr"), 7.2),
        ZooEntry("deaots", "DeAOTS", "DeAOTS_PRE_YTB_DAV.pth", _gdrive("1YwIAV5tBtn5spSFxKLBQBEQGwPHyQlHi"), 10.2),
        ZooEntry("deaotb", "DeAOTB", "DeAOTB_PRE_YTB_DAV.pth", _gdrive("1BHxsonnvJXylqHlZ1zJHHc-ymKyq-CFf"), 13.2),
        ZooEntry("deaotl", "DeAOTL", "DeAOTL_PRE_YTB_DAV.pth", _gdrive("18elNz_wi9JyVBcIUYKhRdL08MA-FqHD5"), 13.2),
        ZooEntry("r50_deaotl", "R50-DeAOTL", "R50_DeAOTL_PRE_YTB_DAV.pth",
                 _gdrive("1QoChMkTVxdYZ_eBlZhK2acq9KMQZccPJ"), 19.8),
        ZooEntry("swinb_deaotl", "SwinB-DeAOTL", "SwinB_DeAOTL_PRE_YTB_DAV.pth",
                 _gdrive("1g4E-F0RPOx9Nd6J7tU9AE1TjsouL4oZq"), 70.3),
    )
}


def source_text(name: str) -> str:
    """Where to get a variant's checkpoint, in words."""
    entry = ZOO[name]
    if entry.url is None:
        return f"no published checkpoint (train one; see {_ZOO_PAGE})"
    return f"{entry.checkpoint} from {entry.url}"


def cache_dir() -> Path:
    """The per-user cache folder of aotvideo (created on first write, not here)."""
    override = os.environ.get("AOTVIDEO_CACHE")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "aotvideo"


def weights_dir() -> Path:
    """The folder holding installed checkpoints."""
    return cache_dir() / "weights"


def _index_path() -> Path:
    return weights_dir() / "index.json"


_SECTIONS = ("weights", "urls")


def _read_index() -> dict[str, dict[str, dict[str, Any]]]:
    """The index's sections (``weights``, ``urls``), each a mapping of key -> record."""
    path = _index_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        data = {}
    except (OSError, ValueError) as exc:
        raise WeightsError(f"the weights index {path} cannot be read: {exc}") from exc
    sections: dict[str, dict[str, dict[str, Any]]] = {}
    for section in _SECTIONS:
        records = data.get(section, {}) if isinstance(data, dict) else {}
        sections[section] = {key: value for key, value in records.items() if isinstance(value, dict)} \
            if isinstance(records, dict) else {}
    return sections


def installed() -> dict[str, dict[str, Any]]:
    """Installed checkpoints: variant name -> record (``file``, ``sha256``, ``size``,
    ``source``, ``added``, and ``url`` when downloaded). Records whose file has gone are left out."""
    return {
        name: dict(record, path=str(weights_dir() / record["file"]))
        for name, record in _read_index()["weights"].items()
        if (weights_dir() / str(record.get("file", ""))).is_file()
    }


def _write_index(sections: dict[str, dict[str, dict[str, Any]]]) -> None:
    folder = weights_dir()
    folder.mkdir(parents=True, exist_ok=True)
    clean = {section: {key: {k: v for k, v in r.items() if k != "path"} for key, r in records.items()}
             for section, records in sections.items()}
    fd, tmp = tempfile.mkstemp(prefix="index.", suffix=".tmp", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"version": 1, **clean}, handle, indent=2, sort_keys=True)
    os.replace(tmp, _index_path())


def _record(section: str, key: str, record: dict[str, Any]) -> None:
    """Add or replace one record of the index (under a lock: other processes may write too)."""
    with file_lock(weights_dir() / ".index.lock"):
        sections = _read_index()
        sections[section][key] = record
        _write_index(sections)


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def guess_variant(filename: str) -> str | None:
    """The variant a checkpoint's file name points to (``DeAOTT_PRE_YTB_DAV.pth`` -> deaott)."""
    key = re.sub(r"[^a-z0-9]", "", Path(filename).name.lower())
    titles = {name: re.sub(r"[^a-z0-9]", "", e.title.lower()) for name, e in ZOO.items()}
    titles.update({name: re.sub(r"[^a-z0-9]", "", name) for name in ZOO if name not in titles})
    candidates = sorted(ZOO, key=lambda n: -max(len(titles[n]), len(n.replace("_", ""))))
    for name in candidates:
        for token in (titles[name], name.replace("_", "")):
            if token and token in key:
                return name
    return None


def _manual_steps(entry: ZooEntry) -> str:
    return (f"download {entry.checkpoint} from {entry.url} , then run "
            f"`aotvideo weights add {entry.checkpoint}` once, or pass --weights FILE")


def no_weights_message(model: str) -> str:
    """The one message shown when a variant has no weights."""
    entry = ZOO.get(model)
    if entry is None or entry.url is None:
        where = f"'{model}' has no published checkpoint; pick another --model or pass --weights FILE"
        return f"no weights for model {where}"
    steps = _manual_steps(entry)
    return (f"no weights installed for model '{model}' (aotvideo ships its own weights only for "
            f"'deaott'). {steps[0].upper()}{steps[1:]}")


def packaged_weights(model: str) -> Path | None:
    """The checkpoint shipped inside the package for ``model``, if there is one."""
    name = PACKAGED_WEIGHTS.get(model)
    if name is None:
        return None
    path = Path(__file__).resolve().parent / "data" / name
    if not path.is_file():
        return None
    digest = sha256_of(path)
    if digest != PACKAGED_SHA256.get(model):
        raise WeightsError(f"the packaged weights {path} are damaged (sha256 {digest}, expected "
                           f"{PACKAGED_SHA256.get(model)}); reinstall aotvideo")
    return path


def verified_path(model: str, record: dict[str, Any]) -> Path:
    """The file of an installed ``record`` of ``model``, after checking it against the SHA-256
    recorded when it was installed. Raises :class:`~aotvideo.errors.WeightsError` when it differs."""
    path = Path(record["path"])
    digest = sha256_of(path)
    recorded = str(record.get("sha256", ""))
    if digest == recorded:
        return path
    if record.get("url"):
        again = f"download it again with `aotvideo weights download {model} --force`"
    else:
        again = "install it again with `aotvideo weights add FILE`"
    raise WeightsError(
        f"the installed checkpoint of model '{model}' ({path}) is damaged or was changed: its sha256 "
        f"is {digest[:16]}..., not the {recorded[:16] or '(none)'}... recorded when it was installed; "
        f"{again}")


def resolve_weights(model: str, weights: str | os.PathLike[str] | None = None, *,
                    auto_download: bool = True, progress: ProgressCallback | None = None,
                    settings: DownloadSettings | None = None) -> Path:
    """The checkpoint to load for ``model``.

    In this order: ``weights`` when given (a file, or an http(s) URL: :func:`download_url`); the
    checkpoint installed in the cache (its SHA-256 checked, :func:`verified_path`); the one shipped
    in the package; the model zoo's, downloaded now (:func:`download_variant`) unless
    ``auto_download`` is false. ``progress`` and ``settings`` go to the download.

    Raises :class:`~aotvideo.errors.WeightsError` (:class:`~aotvideo.errors.DownloadError` when a
    download fails or downloads are off: the message says how to install the file by hand).
    """
    if weights is not None:
        text = os.fspath(weights)
        if is_url(text):
            return download_url(text, model, progress=progress, settings=settings)
        path = Path(text).expanduser()
        if not path.is_file():
            raise WeightsError(f"weights file not found: {path}")
        return path
    record = installed().get(model)
    if record is not None:
        return verified_path(model, record)
    shipped = packaged_weights(model)
    if shipped is not None:
        return shipped
    entry = ZOO.get(model)
    if not auto_download or entry is None or entry.url is None:
        raise WeightsError(no_weights_message(model))
    record, _ = download_variant(model, progress=progress, settings=settings)
    return Path(record["path"])


# -- downloads -------------------------------------------------------------------------------------


def _url_key(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def _partial_path(url: str) -> Path:
    """Where the download of ``url`` collects its data until it is complete and checked."""
    return weights_dir() / "partial" / f"{_url_key(url)}.part"


def _url_file_name(url: str) -> str:
    """A safe file name for a checkpoint downloaded from ``url``."""
    base = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base).strip("._") or "weights.pth"
    return f"{_url_key(url)}-{base[:80]}"


def _check_fits(path: Path, model: str) -> None:
    """Raise :class:`~aotvideo.errors.WeightsError` unless ``path`` loads strictly into ``model``
    (read with ``torch.load(weights_only=True)``)."""
    from .models import build_model, load_weights
    from .models.weights import read_checkpoint

    state, _ = read_checkpoint(path)
    load_weights(build_model(model), state)


def _check_pinned(part: Path, pinned: tuple[int, str] | None, origin: dict[str, str]) -> None:
    """Raise :class:`~aotvideo.errors.WeightsError` (removing ``part``) when a download of a
    checkpoint with a published size and hash does not match them."""
    if pinned is None:
        return
    size, digest = pinned
    found_size = part.stat().st_size
    found = sha256_of(part) if found_size == size else None
    if found_size != size or found != digest:
        discard_partial(part)
        what = (f"{found_size} bytes, not the published {size}" if found_size != size
                else f"sha256 {found}, not the published {digest}")
        raise WeightsError(f"the file downloaded from {origin['url']} is not the published "
                           f"{origin['source']}: {what}; nothing was installed")


def _adopt(part: Path, target: Path, model: str, origin: dict[str, str],
           pinned: tuple[int, str] | None = None) -> dict[str, Any]:
    """Check the finished download ``part`` (against its published size and hash when
    ``pinned``, then against ``model``) and rename it to ``target``; returns its index record.
    A file that fails a check is removed."""
    _check_pinned(part, pinned, origin)
    try:
        _check_fits(part, model)
    except WeightsError as exc:
        discard_partial(part)
        raise WeightsError(f"the file downloaded from {origin['url']} is not a checkpoint of "
                           f"model '{model}': {exc}") from exc
    digest = sha256_of(part)
    size = part.stat().st_size
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part, target)
    discard_partial(part)  # the note beside it
    return {
        "file": target.relative_to(weights_dir()).as_posix(),
        "sha256": digest,
        "size": size,
        "model": model,
        **origin,
        "added": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _fetch_and_adopt(url: str, target: Path, model: str, origin: dict[str, str], *, label: str,
                     settings: DownloadSettings, progress: ProgressCallback | None,
                     by_hand: str, already: Callable[[], dict[str, Any] | None],
                     index_entry: tuple[str, str],
                     pinned: tuple[int, str] | None = None) -> tuple[dict[str, Any], bool]:
    """Download ``url``, check it, move it to ``target`` and record it in the index under
    ``index_entry`` (section, key), all under the download's lock: the record (path included),
    and whether this call downloaded it.  ``already`` is asked again once the lock is held: a
    process that waited for another one's download of the same file takes that file instead of
    downloading it a second time."""
    part = _partial_path(url)
    try:
        with file_lock(part.with_suffix(".lock")):
            done = already()
            if done is not None:
                return done, False
            try:
                fetch(url, part, label=label, settings=settings, progress=progress)
            except DownloadError as exc:
                raise DownloadError(f"cannot download {label}: {exc}. {by_hand}") from exc
            if progress is not None:
                progress(DownloadProgress(label, url, "check",
                                          message=f"checking that it loads into {model}"))
            record = _adopt(part, target, model, origin, pinned)
            _record(*index_entry, record)
    except OSError as exc:
        raise DownloadError(f"cannot save the download into {weights_dir()}: {exc.strerror or exc}") from exc
    if progress is not None:
        progress(DownloadProgress(label, url, "done", done=record["size"], total=record["size"],
                                  message=f"saved {target} (sha256 {record['sha256']})"))
    return dict(record, path=str(target)), True


def download_variant(name: str, *, force: bool = False, progress: ProgressCallback | None = None,
                     settings: DownloadSettings | None = None) -> tuple[dict[str, Any], bool]:
    """Download the model zoo's checkpoint of variant ``name`` into the cache and install it.

    The file is fetched from Google Drive (:func:`aotvideo.download.fetch`: confirmation pages,
    resume), must load strictly into the variant, and its SHA-256 is recorded. An intact
    installed checkpoint is kept unless ``force``. Returns ``(record, downloaded)``.

    Raises :class:`~aotvideo.errors.DownloadError` when it cannot be downloaded (the message
    gives the manual steps), :class:`~aotvideo.errors.WeightsError` when the variant has no
    published checkpoint or the file does not fit it.
    """
    entry = ZOO.get(name)
    if entry is None:
        raise WeightsError(f"unknown model {name!r}; choose one of: {', '.join(ZOO)}")
    if entry.url is None or entry.checkpoint is None:
        raise WeightsError(no_weights_message(name))
    first = _intact_install(name)
    if first is not None and not force:
        return first, False
    settings = settings or DownloadSettings.from_env()
    by_hand = f"By hand: {_manual_steps(entry)}"
    if settings.offline:
        raise DownloadError(f"no weights installed for model '{name}', and downloads are off "
                            f"(AOTVIDEO_OFFLINE=1). {by_hand}")
    before = installed().get(name)

    def already() -> dict[str, Any] | None:  # another process installed it while we waited
        now = installed().get(name)
        return _intact_install(name) if now is not None and now != before else None

    record, downloaded = _fetch_and_adopt(
        entry.url, weights_dir() / f"{name}.pth", name,
        {"source": entry.checkpoint, "url": entry.url},
        label=f"{entry.checkpoint} (model '{name}')", settings=settings, progress=progress,
        by_hand=by_hand, already=already, index_entry=("weights", name), pinned=PINNED.get(name))
    return record, downloaded


def _intact_install(name: str) -> dict[str, Any] | None:
    """The installed record of variant ``name`` with its path, when its file is intact."""
    record = installed().get(name)
    if record is None:
        return None
    try:
        return dict(record, path=str(verified_path(name, record)))
    except WeightsError:
        return None  # damaged: download it again


def download_url(url: str, model: str, *, progress: ProgressCallback | None = None,
                 settings: DownloadSettings | None = None) -> Path:
    """The checkpoint at an http(s) ``url``, downloaded into the cache on first use.

    The first download must load strictly into ``model``; its SHA-256 is recorded, and checked
    on every later use (a file that changed raises :class:`~aotvideo.errors.WeightsError`).
    Raises :class:`~aotvideo.errors.DownloadError` when it cannot be downloaded.
    """
    cached = _cached_url(url)
    if cached is not None:
        path = Path(cached["path"])
        digest = sha256_of(path)
        if digest != cached.get("sha256"):
            raise WeightsError(
                f"the download of {url} cached at {path} is damaged or was changed: its sha256 is "
                f"{digest[:16]}..., not the {str(cached.get('sha256'))[:16]}... recorded when it was "
                "downloaded; delete that file to download it again")
        return path
    settings = settings or DownloadSettings.from_env()
    by_hand = "Download it yourself and pass --weights FILE"
    if settings.offline:
        raise DownloadError(f"--weights {url} is not downloaded yet, and downloads are off "
                            f"(AOTVIDEO_OFFLINE=1). {by_hand}")
    # asked again under the download's lock: another process may have downloaded it meanwhile
    record, downloaded = _fetch_and_adopt(
        url, weights_dir() / "urls" / _url_file_name(url), model, {"source": url, "url": url},
        label=f"--weights {url}", settings=settings, progress=progress, by_hand=by_hand,
        already=lambda: _cached_url(url), index_entry=("urls", url))
    return Path(record["path"])


def _cached_url(url: str) -> dict[str, Any] | None:
    """The index record of ``url``'s download with its ``path``, when its file is there."""
    record = _read_index()["urls"].get(url)
    if record is None or not (weights_dir() / str(record.get("file", ""))).is_file():
        return None
    return dict(record, path=str(weights_dir() / record["file"]))


def load_model(model: str = DEFAULT_MODEL,
               weights: str | os.PathLike[str] | None = None) -> AOTModel:
    """Build ``model`` with its weights resolved like ``aotvideo track`` does
    (:func:`resolve_weights`): ``aotvideo.load_model()`` is the packaged default model."""
    from .models import build_model, load_weights

    return load_weights(build_model(model), resolve_weights(model, weights))


def install(path: str | os.PathLike[str], model: str | None = None) -> tuple[str, dict[str, Any]]:
    """Check that the checkpoint at ``path`` loads into a variant and copy it into the cache.

    ``model`` names the variant; without it the variant is worked out from the tensors' names
    and shapes, using the file name to tell apart variants that share a layout (AOTB/AOTL,
    DeAOTB/DeAOTL). Returns ``(variant, record)``. Raises
    :class:`~aotvideo.errors.WeightsError` when it fits no variant or the choice is ambiguous.
    """
    from .models import build_model, list_models, load_weights
    from .models.weights import matching_variants, read_checkpoint

    source = Path(path).expanduser()
    if not source.is_file():
        raise WeightsError(f"weights file not found: {source}")
    state, _ = read_checkpoint(source)
    if model is not None:
        if model not in list_models():
            raise WeightsError(f"unknown model {model!r}; choose one of: {', '.join(list_models())}")
        name = model
    else:
        fits = matching_variants(state)
        if not fits:
            raise WeightsError(f"{source} fits none of the {len(list_models())} variants "
                               "(is it an AOT/DeAOT checkpoint?)")
        hint = guess_variant(source.name)
        if len(fits) == 1:
            name = fits[0]
        elif hint in fits:
            name = hint  # type: ignore[assignment]
        else:
            raise WeightsError(
                f"{source} fits {', '.join(fits)} (same layout); say which with --model"
            )
    load_weights(build_model(name), state)  # strict: raises WeightsError with the differences

    folder = weights_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{name}.pth"
        fd, tmp = tempfile.mkstemp(prefix=f"{name}.", suffix=".tmp", dir=folder)
        os.close(fd)
        try:
            shutil.copyfile(source, tmp)
            digest = sha256_of(tmp)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        record = {
            "file": target.name,
            "sha256": digest,
            "size": target.stat().st_size,
            "source": source.name,
            "added": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        _record("weights", name, record)
    except OSError as exc:
        raise WeightsError(f"cannot install into {folder}: {exc.strerror or exc}") from exc
    return name, dict(record, path=str(target))
