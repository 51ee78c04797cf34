"""Benchmark datasets in their published folder layouts.

DAVIS 2017 (and DAVIS 2016 inside it)::

    ROOT/JPEGImages/{480p,Full-Resolution}/<seq>/00000.jpg ...
    ROOT/Annotations/{480p,Full-Resolution}/<seq>/00000.png ...   palette PNGs, ids 1..K
    ROOT/ImageSets/2017/{train,val,test-dev,test-challenge}.txt      one sequence per line
    ROOT/ImageSets/2016/{train,val}.txt                              (DAVIS 2016 subset)

The original DAVIS 2016 release is also read: 0/255 masks and ``ImageSets/480p/<split>.txt`` with
one ``/JPEGImages/480p/<seq>/<frame>.jpg /Annotations/...png`` pair per line.  DAVIS 2016 has a
single object: every non-zero label of the annotation is that object, id 1.

YouTube-VOS 2018 / 2019::

    ROOT/<split>/JPEGImages/<seq>/<frame>.jpg       frames at 6 fps (every 5th frame)
    ROOT/<split>/Annotations/<seq>/<frame>.png      the mask of each object at its first frame
    ROOT/<split>/meta.json                          objects and their frames per video
    ROOT/<split>_all_frames/JPEGImages/<seq>/...    (optional) all frames at 30 fps

``meta.json`` reads ``{"videos": {seq: {"objects": {id: {"frames": [frame names]}}}}}``; an
object starts at its first listed frame.

Objects of a YouTube-VOS video start at different frames; predictions are due for the 6 fps
frames only, in ``Annotations/<seq>/<frame>.png``, zipped for the evaluation server.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aotvideo.errors import BenchmarkError

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class BenchmarkSequence:
    """One video of a benchmark, ready to be run.

    Attributes:
        name: sequence (folder) name.
        frame_paths: frames fed to the tracker, in time order.
        annotations: index into ``frame_paths`` -> label PNG of the objects starting there.
        new_objects: index -> ids that start there; an index absent here means "every id of the
            PNG not seen before".
        output_names: frame names (file stems) whose prediction is written.
        binary: the benchmark has one object: all non-zero labels are object 1 (DAVIS 2016).
    """

    name: str
    frame_paths: tuple[Path, ...]
    annotations: Mapping[int, Path]
    new_objects: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    output_names: tuple[str, ...] = ()
    binary: bool = False

    @property
    def frame_names(self) -> tuple[str, ...]:
        """File stems of ``frame_paths``."""
        return tuple(p.stem for p in self.frame_paths)

    @property
    def first_annotated(self) -> int:
        """Index of the first frame with an annotation."""
        return min(self.annotations)


def _list_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)


def _read_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


class Benchmark:
    """Common interface of the benchmarks.

    Attributes:
        name: short name, e.g. ``"davis2017"``.
        split: the split (``val``, ``test-dev``, ``valid``...).
    """

    name: str = ""
    split: str = ""
    #: writes a submission zip after a run
    zipped: bool = False

    def sequence_names(self) -> list[str]:
        """Names of the split's sequences, in the benchmark's order."""
        raise NotImplementedError

    def sequence(self, name: str) -> BenchmarkSequence:
        """The sequence ``name`` with its frames and first-frame annotations."""
        raise NotImplementedError

    def sequences(self, names: list[str] | None = None) -> list[BenchmarkSequence]:
        """The sequences ``names`` (all of the split when ``None``)."""
        known = self.sequence_names()
        if names is None:
            names = known
        else:
            unknown = sorted(set(names) - set(known))
            if unknown:
                raise BenchmarkError(f"not in {self.name} {self.split}: {', '.join(unknown)}")
        return [self.sequence(n) for n in names]

    def prediction_path(self, out_dir: Path, sequence: str, frame: str) -> Path:
        """Where the prediction of ``frame`` of ``sequence`` is written under ``out_dir``."""
        raise NotImplementedError


class DavisDataset(Benchmark):
    """DAVIS 2016 / 2017 (semi-supervised) in the published layout.

    Args:
        root: folder holding ``JPEGImages``, ``Annotations`` and ``ImageSets``.
        year: 2017 (multi-object) or 2016 (single object).
        split: ``train``, ``val``, ``test-dev`` or ``test-challenge`` (the latter two: 2017 only).
        resolution: ``480p`` or ``Full-Resolution``.
    """

    def __init__(
        self, root: str | Path, year: int = 2017, split: str = "val", resolution: str = "480p"
    ) -> None:
        if year not in (2016, 2017):
            raise BenchmarkError(f"DAVIS year must be 2016 or 2017, not {year}")
        self.root = Path(root)
        self.year = year
        self.split = split
        self.resolution = resolution
        self.name = f"davis{year}"
        if not self.root.is_dir():
            raise BenchmarkError(f"DAVIS root not found: {self.root}")
        self._names = self._read_split()

    @property
    def image_dir(self) -> Path:
        """``JPEGImages/<resolution>``."""
        return self.root / "JPEGImages" / self.resolution

    @property
    def annotation_dir(self) -> Path:
        """``Annotations/<resolution>``."""
        return self.root / "Annotations" / self.resolution

    @property
    def binary(self) -> bool:
        """DAVIS 2016 scores one object per sequence."""
        return self.year == 2016

    def _read_split(self) -> list[str]:
        listing = self.root / "ImageSets" / str(self.year) / f"{self.split}.txt"
        if listing.is_file():
            return _read_lines(listing)
        if self.year == 2016:  # original DAVIS 2016 release: frame pairs per line
            listing = self.root / "ImageSets" / self.resolution / f"{self.split}.txt"
            if listing.is_file():
                names: list[str] = []
                for line in _read_lines(listing):
                    seq = Path(line.split()[0]).parent.name
                    if seq not in names:
                        names.append(seq)
                return names
        raise BenchmarkError(f"split list not found: {listing}")

    def sequence_names(self) -> list[str]:
        return list(self._names)

    def annotation_paths(self, name: str) -> list[Path]:
        """Sorted annotation PNGs of sequence ``name`` (all frames for train/val)."""
        return sorted((self.annotation_dir / name).glob("*.png"))

    def sequence(self, name: str) -> BenchmarkSequence:
        frames = _list_images(self.image_dir / name)
        if not frames:
            raise BenchmarkError(f"no frames for sequence {name} in {self.image_dir / name}")
        first = self.annotation_dir / name / f"{frames[0].stem}.png"
        if not first.is_file():
            raise BenchmarkError(f"first-frame annotation missing: {first}")
        return BenchmarkSequence(
            name=name,
            frame_paths=tuple(frames),
            annotations={0: first},
            output_names=tuple(p.stem for p in frames),
            binary=self.binary,
        )

    def prediction_path(self, out_dir: Path, sequence: str, frame: str) -> Path:
        return Path(out_dir) / sequence / f"{frame}.png"


class YouTubeVOSDataset(Benchmark):
    """YouTube-VOS 2018 / 2019 in the published layout.

    Args:
        root: folder holding ``<split>/`` (and optionally ``<split>_all_frames/``).
        year: 2018 or 2019 (same layout; used for names only).
        split: ``valid`` or ``test``.
        all_frames: run on the 30 fps frames of ``<split>_all_frames`` (predictions are still
            written for the 6 fps frames only); ``None`` uses them when present.
    """

    zipped = True

    def __init__(
        self,
        root: str | Path,
        year: int = 2019,
        split: str = "valid",
        all_frames: bool | None = None,
    ) -> None:
        if year not in (2018, 2019):
            raise BenchmarkError(f"YouTube-VOS year must be 2018 or 2019, not {year}")
        self.root = Path(root)
        self.year = year
        self.split = split
        self.name = f"youtubevos{year}"
        self.split_dir = self.root / split
        if not (self.split_dir / "JPEGImages").is_dir():
            raise BenchmarkError(f"YouTube-VOS split not found: {self.split_dir / 'JPEGImages'}")
        dense = self.root / f"{split}_all_frames" / "JPEGImages"
        if all_frames is None:
            all_frames = dense.is_dir()
        elif all_frames and not dense.is_dir():
            raise BenchmarkError(f"all-frames folder not found: {dense}")
        self.all_frames = all_frames
        self.frame_dir = dense if all_frames else self.split_dir / "JPEGImages"
        self._meta = self._read_meta()

    def _read_meta(self) -> dict[str, dict[int, str]]:
        """Sequence -> object id -> name of the frame where the object starts."""
        path = self.split_dir / "meta.json"
        if not path.is_file():
            return {}
        try:
            videos = json.loads(path.read_text())["videos"]
            return {
                seq: {int(oid): str(obj["frames"][0]) for oid, obj in info["objects"].items()}
                for seq, info in videos.items()
            }
        except (KeyError, IndexError, TypeError, ValueError) as err:
            raise BenchmarkError(f"{path}: unexpected meta.json content ({err})") from err

    def sequence_names(self) -> list[str]:
        if self._meta:
            return sorted(self._meta)
        return sorted(p.name for p in (self.split_dir / "JPEGImages").iterdir() if p.is_dir())

    def sequence(self, name: str) -> BenchmarkSequence:
        sparse = _list_images(self.split_dir / "JPEGImages" / name)
        frames = _list_images(self.frame_dir / name) if self.all_frames else sparse
        if not frames:
            raise BenchmarkError(f"no frames for sequence {name}")
        index = {p.stem: i for i, p in enumerate(frames)}
        annotation_dir = self.split_dir / "Annotations" / name
        annotations: dict[int, Path] = {}
        new_objects: dict[int, tuple[int, ...]] = {}
        if name in self._meta:
            starts: dict[str, list[int]] = {}
            for oid, frame in self._meta[name].items():
                starts.setdefault(frame, []).append(oid)
            for frame, ids in starts.items():
                if frame not in index:
                    raise BenchmarkError(f"{name}: object start frame {frame} has no image")
                png = annotation_dir / f"{frame}.png"
                if not png.is_file():
                    raise BenchmarkError(f"annotation missing: {png}")
                annotations[index[frame]] = png
                new_objects[index[frame]] = tuple(sorted(ids))
        else:
            for png in sorted(annotation_dir.glob("*.png")):
                if png.stem in index:
                    annotations[index[png.stem]] = png
        if not annotations:
            raise BenchmarkError(f"no annotations for sequence {name} in {annotation_dir}")
        return BenchmarkSequence(
            name=name,
            frame_paths=tuple(frames),
            annotations=dict(sorted(annotations.items())),
            new_objects=new_objects,
            output_names=tuple(p.stem for p in sparse),
        )

    def prediction_path(self, out_dir: Path, sequence: str, frame: str) -> Path:
        return Path(out_dir) / "Annotations" / sequence / f"{frame}.png"


BENCHMARKS = ("davis2016", "davis2017", "youtubevos2018", "youtubevos2019")


def open_benchmark(
    name: str,
    root: str | Path,
    split: str | None = None,
    *,
    resolution: str = "480p",
    all_frames: bool | None = None,
) -> Benchmark:
    """Open a benchmark by name.

    Args:
        name: one of :data:`BENCHMARKS`.
        root: dataset root folder.
        split: defaults to ``val`` (DAVIS) or ``valid`` (YouTube-VOS).
        resolution: DAVIS frame resolution folder.
        all_frames: YouTube-VOS: run on all 30 fps frames (``None``: when available).
    """
    key = name.lower().replace("-", "").replace("_", "")
    if key.startswith("davis") and key[5:] in ("2016", "2017"):
        return DavisDataset(root, int(key[5:]), split or "val", resolution)
    if key.startswith("youtubevos") and key[10:] in ("2018", "2019"):
        return YouTubeVOSDataset(root, int(key[10:]), split or "valid", all_frames)
    raise BenchmarkError(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
