"""``aotvideo mask`` and ``aotvideo track --box``: a first mask from boxes, through the real CLI
on real encoded videos and PNG/JPEG pictures."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from aotvideo.boxmask import box_of_mask, packaged_head_path
from aotvideo.boxmask.evaluate import iou
from aotvideo.boxmask.weights import WEIGHTS_ENV
from aotvideo.cli import main
from aotvideo.io import VideoReader, read_mask
from aotvideo.io.frame_export import write_png
from aotvideo.io.testclips import write_clip

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "sample.mp4"
SAMPLE_MASK = ROOT / "samples" / "sample_mask.png"
#: Lowest per-object IoU of `aotvideo mask` on the sample's first frame, tight boxes (measured
#: when the head shipped: see tests/boxmask/test_boxmask.py), less a margin.
BOUNDS = {"grabcut": 0.90, "head": 0.60}


def invoke(args: list[object], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def box_args(labels: np.ndarray) -> list[str]:
    """``--box`` arguments around each object of a label map, in id order."""
    out: list[str] = []
    for object_id in sorted(set(np.unique(labels).tolist()) - {0}):
        out += ["--box", ",".join(map(str, box_of_mask(labels == object_id)))]
    return out


@pytest.fixture(scope="module")
def truth() -> np.ndarray:
    return read_mask(SAMPLE_MASK)


@pytest.fixture(scope="module")
def sample_frames() -> list[np.ndarray]:
    with VideoReader(str(SAMPLE)) as reader:
        return [frame.image for _, frame in zip(range(5), reader.frames())]


@pytest.fixture(scope="module")
def rotated_clip(tmp_path_factory, sample_frames) -> Path:
    """The sample's first 5 frames, stored 320x180 with a 90 degree display rotation."""
    path = tmp_path_factory.mktemp("rotated") / "rotated.mp4"
    write_clip(path, sample_frames, rotation=90)
    return path


@pytest.mark.parametrize("method", ["grabcut", "head"])
def test_mask_writes_a_palette_png_and_a_preview(tmp_path: Path, truth: np.ndarray, method: str) -> None:
    out = tmp_path / "first.png"
    result = invoke(["mask", SAMPLE, *box_args(truth), "--method", method, "-o", out])
    assert result.exit_code == 0, result.stderr
    used = "the learnt box head" if method == "head" else "GrabCut"
    assert f"segmented 3 boxes with {used}" in result.stderr
    labels = read_mask(out)
    assert labels.shape == (180, 320) and set(np.unique(labels).tolist()) == {0, 1, 2, 3}
    assert min(iou(labels == i, truth == i) for i in (1, 2, 3)) > BOUNDS[method]
    with Image.open(out) as png:
        assert png.mode == "P"  # a palette PNG, as DAVIS ships them
    with Image.open(tmp_path / "first.preview.png") as preview:
        assert (preview.size, preview.mode) == ((320, 180), "RGB")
    assert f"--mask {out}" in result.stderr


def test_mask_default_names_and_no_preview(tmp_path: Path, truth: np.ndarray) -> None:
    video = tmp_path / "clip.mp4"
    shutil.copy(SAMPLE, video)
    result = invoke(["mask", video, *box_args(truth)[:2], "--method", "grabcut", "--no-preview"])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "clip.mask.png").is_file() and not list(tmp_path.glob("*.preview.png"))
    result = invoke(["mask", video, "--box", "10,10,60,60", "--frame", "3", "--method", "grabcut",
                     "--preview", tmp_path / "look.png"])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "clip.mask.3.png").is_file() and (tmp_path / "look.png").is_file()
    assert "--mask 3:" in result.stderr


def test_mask_reads_still_pictures(tmp_path: Path, sample_frames, truth: np.ndarray) -> None:
    png, jpeg = tmp_path / "frame.png", tmp_path / "frame.jpg"
    write_png(png, sample_frames[0])
    Image.fromarray(sample_frames[0]).save(jpeg, quality=95)
    from_video = invoke(["mask", SAMPLE, *box_args(truth), "--method", "grabcut", "-o", tmp_path / "v.png"])
    from_png = invoke(["mask", png, *box_args(truth), "--method", "grabcut", "-o", tmp_path / "p.png"])
    from_jpeg = invoke(["mask", jpeg, *box_args(truth), "--method", "grabcut", "-o", tmp_path / "j.png"])
    assert from_video.exit_code == from_png.exit_code == from_jpeg.exit_code == 0
    np.testing.assert_array_equal(read_mask(tmp_path / "p.png"), read_mask(tmp_path / "v.png"))
    assert min(iou(read_mask(tmp_path / "j.png") == i, truth == i) for i in (1, 2, 3)) > BOUNDS["grabcut"]
    result = invoke(["mask", png, "--box", "1,1,9,9", "--frame", "2"])
    assert result.exit_code == 2 and "still picture: it has only frame 0" in result.stderr


def test_boxes_are_in_displayed_coordinates(tmp_path: Path, rotated_clip: Path, truth: np.ndarray) -> None:
    shown = np.rot90(truth)  # what a player shows for a 90 degree rotation
    out = tmp_path / "rot.png"
    result = invoke(["mask", rotated_clip, *box_args(shown), "--method", "grabcut", "-o", out])
    assert result.exit_code == 0, result.stderr
    labels = read_mask(out)
    assert labels.shape == (320, 180)
    assert min(iou(labels == i, shown == i) for i in (1, 2, 3)) > BOUNDS["grabcut"]


def test_track_box_equals_mask_then_track_mask(tmp_path: Path, rotated_clip: Path, truth: np.ndarray) -> None:
    boxes = box_args(np.rot90(truth))
    made = tmp_path / "first.png"
    assert invoke(["mask", rotated_clip, *boxes, "-o", made, "--no-preview"]).exit_code == 0
    via_mask = invoke(["track", rotated_clip, "--mask", made, "--mode", "masks", "-o", tmp_path / "a",
                       "--device", "cpu"])
    assert via_mask.exit_code == 0, via_mask.stderr
    saved = tmp_path / "saved.png"
    via_box = invoke(["track", rotated_clip, *boxes, "--mode", "masks", "-o", tmp_path / "b",
                      "--save-mask", saved, "--device", "cpu"])
    assert via_box.exit_code == 0, via_box.stderr
    assert "segmented 3 boxes with the learnt box head" in via_box.stderr
    np.testing.assert_array_equal(read_mask(saved), read_mask(made))
    first = sorted((tmp_path / "a").glob("*.png"))
    second = sorted((tmp_path / "b").glob("*.png"))
    assert len(first) == len(second) == 5
    for a, b in zip(first, second):
        labels = read_mask(a)
        assert labels.shape == (320, 180) and set(np.unique(labels).tolist()) == {0, 1, 2, 3}
        np.testing.assert_array_equal(labels, read_mask(b))


@pytest.mark.parametrize("args,words", [
    (["--box", "10,10,50"], "expected X0,Y0,X1,Y1"),
    (["--box", "a,b,c,d"], "expected X0,Y0,X1,Y1"),
    (["--box", "50,10,50,40"], "is empty"),
    (["--box", "40,10,20,30"], "is empty"),
    (["--box", "300,100,330,150"], "reaches outside the 320x180 picture"),
    (["--box", "10,10,40,40", "--frame", "500"], "there is no frame 500"),
    (["--box", "10,10,40,40", "--frame", "x"], "expected a frame index"),
])
def test_mask_errors_are_usage_errors(tmp_path: Path, args: list[str], words: str) -> None:
    result = invoke(["mask", SAMPLE, *args, "--method", "grabcut", "-o", tmp_path / "m.png"])
    assert result.exit_code == 2, result.stderr
    assert words in result.stderr
    assert not (tmp_path / "m.png").exists()


def test_mask_input_and_output_errors(tmp_path: Path) -> None:
    missing = invoke(["mask", tmp_path / "none.mp4", "--box", "1,1,5,5"])
    assert missing.exit_code == 5 and "none.mp4" in missing.stderr
    unwritable = invoke(["mask", SAMPLE, "--box", "1,1,50,50", "--method", "grabcut",
                         "-o", tmp_path / "no" / "dir" / "m.png"])
    assert unwritable.exit_code == 7 and "cannot write" in unwritable.stderr
    device = invoke(["mask", SAMPLE, "--box", "1,1,50,50", "--device", "nonsense", "-o", tmp_path / "d.png"])
    assert device.exit_code == 2 and "cannot run the box head on device nonsense" in device.stderr


@pytest.mark.parametrize("args,words", [
    (["--box", "10,10,40,40", "--mask", str(SAMPLE_MASK)], "--box and --mask exclude each other"),
    ([], "give the objects to track"),
    (["--mask", str(SAMPLE_MASK), "--save-mask", "x.png"], "--save-mask saves the mask made from --box"),
    (["--box", "10,10"], "expected X0,Y0,X1,Y1"),
    (["--box", "300,100,330,150"], "reaches outside the 320x180 picture"),
])
def test_track_box_usage_errors(tmp_path: Path, args: list[str], words: str) -> None:
    result = invoke(["track", SAMPLE, *args, "-o", tmp_path / "out.mp4", "--box-method", "grabcut"])
    assert result.exit_code == 2, result.stderr
    assert words in result.stderr
    assert not (tmp_path / "out.mp4").exists()


def test_damaged_head_weights_fall_back_to_grabcut(tmp_path: Path, truth: np.ndarray) -> None:
    damaged = tmp_path / "boxmask_v1.pth"
    data = bytearray(packaged_head_path().read_bytes())
    data[100] ^= 0x55
    damaged.write_bytes(bytes(data))
    env = {WEIGHTS_ENV: str(damaged)}
    result = invoke(["mask", SAMPLE, *box_args(truth), "-o", tmp_path / "m.png"], env=env)
    assert result.exit_code == 0, result.stderr
    assert "segmented 3 boxes with GrabCut; the learnt box head is unavailable" in result.stderr
    assert "damaged" in result.stderr
    grabcut = invoke(["mask", SAMPLE, *box_args(truth), "--method", "grabcut", "-o", tmp_path / "g.png"])
    assert grabcut.exit_code == 0
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), read_mask(tmp_path / "g.png"))
    forced = invoke(["mask", SAMPLE, *box_args(truth), "--method", "head", "-o", tmp_path / "h.png"], env=env)
    assert forced.exit_code == 4 and "damaged" in forced.stderr and "--method grabcut" in forced.stderr


def test_batch_manifests_reject_boxes_with_a_pointer_to_mask(tmp_path: Path) -> None:
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text(json.dumps({"input": str(SAMPLE), "box": "10,10,40,40"}) + "\n")
    result = invoke(["batch", manifest, "--output-dir", tmp_path / "out"])
    assert result.exit_code == 2, result.stderr
    assert "'box' is not a per-job option" in result.stderr and "aotvideo mask" in result.stderr
    result = invoke(["batch", manifest, "--box", "10,10,40,40"])
    assert result.exit_code == 2 and "No such option '--box'" in result.stderr


def test_mask_never_replaces_its_picture(tmp_path: Path, sample_frames, truth: np.ndarray) -> None:
    victim = tmp_path / "victim.png"
    write_png(victim, sample_frames[0])
    before = victim.read_bytes()
    result = invoke(["mask", victim, *box_args(truth), "--method", "grabcut", "-o", victim])
    assert result.exit_code == 2 and "would overwrite the input" in result.stderr
    (tmp_path / "link").symlink_to(".")
    result = invoke(["mask", victim, *box_args(truth), "--method", "grabcut",
                     "-o", tmp_path / "out.png", "--preview", tmp_path / "link" / "victim.png"])
    assert result.exit_code == 2 and "the preview would overwrite the input" in result.stderr
    assert victim.read_bytes() == before
    same = tmp_path / "same.png"
    result = invoke(["mask", victim, *box_args(truth), "--method", "grabcut", "-o", same,
                     "--preview", same])
    assert result.exit_code == 2 and "--preview and -o name the same file" in result.stderr
    assert not same.exists()


def test_track_never_writes_over_what_it_reads(tmp_path: Path) -> None:
    video = tmp_path / "in.mp4"
    shutil.copy(SAMPLE, video)
    mask = tmp_path / "first.png"
    shutil.copy(SAMPLE_MASK, mask)
    (tmp_path / "link").symlink_to(".")
    before = video.read_bytes(), mask.read_bytes()
    for output, words in ((tmp_path / "link" / "in.mp4", "would overwrite the input"),
                          (tmp_path / "link" / "first.png", "would overwrite the mask")):
        result = invoke(["track", video, "--mask", mask, "-o", output, "--mode", "matte"])
        assert result.exit_code == 2 and words in result.stderr, result.stderr
    result = invoke(["track", video, "--mask", mask, "--mode", "masks", "-o", tmp_path])
    assert result.exit_code == 2 and "holds the input" in result.stderr
    assert (video.read_bytes(), mask.read_bytes()) == before
