"""Where weights come from, and the per-user cache that holds installed checkpoints.

aotvideo ships one small model of its own (``deaott``, trained on synthetic videos; used when
nothing else is installed). The model zoo of the original AOT/DeAOT work publishes a checkpoint
for most variants (Google Drive links below); ``aotvideo weights add FILE`` checks that a
downloaded checkpoint loads into a variant and copies it into the cache, recording its SHA-256.

The cache is ``$AOTVIDEO_CACHE`` when set, else ``$XDG_CACHE_HOME/aotvideo`` (by default
``~/.cache/aotvideo``); weights live in its ``weights/`` folder with an ``index.json``.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import WeightsError

if TYPE_CHECKING:
    from .models import AOTModel

__all__ = [
    "DEFAULT_MODEL",
    "ZOO",
    "ZooEntry",
    "cache_dir",
    "guess_variant",
    "PACKAGED_SHA256",
    "PACKAGED_WEIGHTS",
    "install",
    "installed",
    "load_model",
    "packaged_weights",
    "no_weights_message",
    "resolve_weights",
    "sha256_of",
    "weights_dir",
]

#: The variant ``aotvideo track`` uses unless told otherwise: the best small one.
DEFAULT_MODEL = "deaott"

#: Weights that ship inside the package (trained by aotvideo itself, see the README's model card).
PACKAGED_WEIGHTS = {"deaott": "deaott_synthetic_v2.pth"}
#: Their SHA-256, checked before they are used.
PACKAGED_SHA256 = {"deaott": "0f20639e06cb0bb74aa7e5a7d902b77dd79d21728a52e1bba7a499826aba537e"}

_ZOO_PAGE = "https://github.com/yoxu515/aot-benchmark/blob/main/MODEL_ZOO.md"


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


def installed() -> dict[str, dict[str, Any]]:
    """Installed checkpoints: variant name -> record (``file``, ``sha256``, ``size``,
    ``source``, ``added``). Records whose file has gone are left out."""
    path = _index_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise WeightsError(f"the weights index {path} cannot be read: {exc}") from exc
    records = data.get("weights", {}) if isinstance(data, dict) else {}
    return {
        name: dict(record, path=str(weights_dir() / record["file"]))
        for name, record in records.items()
        if isinstance(record, dict) and (weights_dir() / str(record.get("file", ""))).is_file()
    }


def _write_index(records: dict[str, dict[str, Any]]) -> None:
    folder = weights_dir()
    folder.mkdir(parents=True, exist_ok=True)
    clean = {name: {k: v for k, v in r.items() if k != "path"} for name, r in records.items()}
    fd, tmp = tempfile.mkstemp(prefix="index.", suffix=".tmp", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"version": 1, "weights": clean}, handle, indent=2, sort_keys=True)
    os.replace(tmp, _index_path())


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


def no_weights_message(model: str) -> str:
    """The one message shown when a variant has no weights."""
    entry = ZOO.get(model)
    if entry is None or entry.url is None:
        where = f"'{model}' has no published checkpoint; pick another --model or pass --weights FILE"
        return f"no weights for model {where}"
    return (
        f"no weights installed for model '{model}' (aotvideo ships its own weights only for 'deaott'). "
        f"Download {entry.checkpoint} from {entry.url} , then run "
        f"`aotvideo weights add {entry.checkpoint}` once, or pass --weights FILE"
    )


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


def resolve_weights(model: str, weights: str | os.PathLike[str] | None) -> Path:
    """The checkpoint to load for ``model``: ``weights`` when given, else the one installed with
    ``aotvideo weights add``, else the one shipped in the package.

    Raises :class:`~aotvideo.errors.WeightsError` with :func:`no_weights_message` when none.
    """
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsError(f"weights file not found: {path}")
        return path
    record = installed().get(model)
    if record is not None:
        return Path(record["path"])
    shipped = packaged_weights(model)
    if shipped is not None:
        return shipped
    raise WeightsError(no_weights_message(model))


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
        records = installed()
        records[name] = record
        _write_index(records)
    except OSError as exc:
        raise WeightsError(f"cannot install into {folder}: {exc.strerror or exc}") from exc
    return name, dict(record, path=str(target))
