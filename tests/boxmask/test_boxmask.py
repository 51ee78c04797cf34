"""The box-mask library: boxes, the overlap rule, GrabCut, the shipped head and its checksum."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from aotvideo.boxmask import (BoxMaskNet, BoxSegmenter, HeadConfig, SegmenterConfig, check_boxes,
                              combine_masks, grabcut_mask, load_head, masks_from_boxes,
                              packaged_head_path, save_head)
from aotvideo.boxmask.crops import crop_inputs, crop_window, paste_logits
from aotvideo.boxmask.evaluate import iou, markdown_table, score_methods
from aotvideo.boxmask.weights import PACKAGED_HEAD_SHA256, WEIGHTS_ENV
from aotvideo.errors import FrameError, MaskError, WeightsError

#: Lowest per-object IoU on the sample clip's first frame with tight boxes, measured when the
#: head shipped (GrabCut 0.97 / 0.97 / 0.95; head 0.98 / 0.68 / 0.85: flat synthetic shapes are
#: far from the real footage it learnt from), less a margin for other CPUs' float rounding.
GRABCUT_SAMPLE_BOUND = 0.90
HEAD_SAMPLE_BOUND = 0.60


def _ious(labels: np.ndarray, truth: np.ndarray) -> list[float]:
    return [iou(labels == i, truth == i) for i in (1, 2, 3)]


# -- boxes and the overlap rule ----------------------------------------------------------------------


def test_boxes_are_checked_against_the_picture() -> None:
    assert check_boxes([(0, 0, 320, 180), [5, 6, 7, 8]], 320, 180) == [(0, 0, 320, 180), (5, 6, 7, 8)]
    with pytest.raises(MaskError, match=r"box 2 \(10,10,10,20\) is empty"):
        check_boxes([(0, 0, 5, 5), (10, 10, 10, 20)], 320, 180)
    with pytest.raises(MaskError, match=r"box 1 \(300,0,321,10\) reaches outside the 320x180 picture"):
        check_boxes([(300, 0, 321, 10)], 320, 180)
    with pytest.raises(MaskError, match="reaches outside"):
        check_boxes([(-1, 0, 10, 10)], 320, 180)
    with pytest.raises(MaskError, match="expected 4 numbers"):
        check_boxes([(1, 2, 3)], 320, 180)


def test_later_boxes_win_only_on_their_own_object() -> None:
    first = np.zeros((6, 8), bool)
    first[1:5, 1:6] = True
    second = np.zeros((6, 8), bool)
    second[2:4, 4:8] = True
    labels = combine_masks([first, second])
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels[first & ~second], 1)  # the first keeps what is not claimed
    np.testing.assert_array_equal(labels[second], 2)  # the later object wins where it is
    np.testing.assert_array_equal(labels[~first & ~second], 0)


def test_crops_cover_the_box_and_paste_back_in_place() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    box = (50, 20, 90, 60)
    window = crop_window(box, 200, 100, 0.25)
    assert (window.x0, window.y0, window.x1, window.y1) == (40, 10, 100, 70)
    crop, prior = crop_inputs(image, box, window, 48)
    assert crop.shape == (48, 48, 3) and prior.shape == (48, 48)
    assert prior[24, 24] == 1.0 and prior[0, 0] == 0.0 and prior.sum() == pytest.approx(32 * 32)
    clamped = crop_window((0, 0, 200, 100), 200, 100, 0.25)
    assert (clamped.x0, clamped.y0, clamped.x1, clamped.y1) == (0, 0, 200, 100)
    logits = np.where(prior > 0.5, 5.0, -5.0).astype(np.float32)
    full = paste_logits(logits, window, 200, 100)
    assert full.shape == (100, 200) and np.isneginf(full[0, 0])
    inside = full > 0
    assert inside[25:55, 55:85].all() and not inside[:, :45].any() and not inside[:15].any()


# -- GrabCut -------------------------------------------------------------------------------------------


def test_grabcut_finds_the_sample_objects_deterministically(sample_frame, sample_truth, sample_boxes) -> None:
    labels = BoxSegmenter(SegmenterConfig(method="grabcut")).labels(sample_frame, sample_boxes)
    assert min(_ious(labels, sample_truth)) > GRABCUT_SAMPLE_BOUND
    again = masks_from_boxes(sample_frame, sample_boxes, method="grabcut")
    np.testing.assert_array_equal(labels, again)


def test_grabcut_never_returns_an_empty_mask(sample_frame) -> None:
    whole = grabcut_mask(sample_frame, (0, 0, 320, 180))  # no background left to learn from
    thin = grabcut_mask(sample_frame, (10, 10, 11, 40))
    assert whole.any() and thin.any() and not thin[:, 12:].any()


def test_images_must_be_rgb_uint8(sample_boxes) -> None:
    with pytest.raises(FrameError, match="H x W x 3 uint8"):
        masks_from_boxes(np.zeros((180, 320), np.uint8), sample_boxes, method="grabcut")


# -- the shipped head ------------------------------------------------------------------------------------


def test_the_packaged_head_is_intact_and_small() -> None:
    path = packaged_head_path()
    assert path.stat().st_size < 6 * 1024 * 1024
    assert hashlib.sha256(path.read_bytes()).hexdigest() == PACKAGED_HEAD_SHA256
    net, config, meta = load_head(path)
    assert config == HeadConfig() and "DAVIS 2016" in meta["data"]
    assert all(p.dtype == torch.float32 for p in net.parameters())


def test_the_head_finds_the_sample_objects_in_box_order(two_threads, sample_frame, sample_truth, sample_boxes) -> None:
    segmenter = BoxSegmenter(SegmenterConfig(method="auto"))
    assert segmenter.method == "head" and segmenter.fallback_reason is None
    labels = segmenter.labels(sample_frame, sample_boxes)
    assert labels.shape == (180, 320) and set(np.unique(labels)) == {0, 1, 2, 3}
    assert min(_ious(labels, sample_truth)) > HEAD_SAMPLE_BOUND
    reordered = segmenter.labels(sample_frame, sample_boxes[::-1])  # ids follow the box order
    for new_id, old_id in ((1, 3), (2, 2), (3, 1)):
        assert iou(reordered == new_id, labels == old_id) > 0.95


def test_a_damaged_head_falls_back_to_grabcut(tmp_path: Path, monkeypatch, sample_frame,
                                              sample_boxes) -> None:
    damaged = tmp_path / "boxmask_v1.pth"
    shutil.copy(packaged_head_path(), damaged)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    monkeypatch.setenv(WEIGHTS_ENV, str(damaged))
    with pytest.raises(WeightsError, match="damaged"):
        packaged_head_path()
    segmenter = BoxSegmenter(SegmenterConfig(method="auto"))
    assert segmenter.method == "grabcut" and "damaged" in (segmenter.fallback_reason or "")
    np.testing.assert_array_equal(segmenter.labels(sample_frame, sample_boxes),
                                  masks_from_boxes(sample_frame, sample_boxes, method="grabcut"))
    with pytest.raises(WeightsError, match="damaged"):
        BoxSegmenter(SegmenterConfig(method="head"))
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "missing.pth"))
    assert "missing" in (BoxSegmenter().fallback_reason or "")


def test_head_files_round_trip_in_float16(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = BoxMaskNet().eval()
    path = tmp_path / "head.pth"
    save_head(net, HeadConfig(crop_size=64, margin=0.2), path, {"data": "none"})
    loaded, config, meta = load_head(path)
    assert config == HeadConfig(crop_size=64, margin=0.2) and meta == {"data": "none"}
    stored = torch.load(path, weights_only=True)["state_dict"]
    assert all(v.dtype == torch.float16 for v in stored.values() if v.is_floating_point())
    for name, value in net.state_dict().items():  # every tensor back, to float16's precision
        assert torch.allclose(loaded.state_dict()[name], value, rtol=1e-3, atol=1e-4), name
    image, prior = torch.randn(1, 3, 64, 64), torch.ones(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(loaded(image, prior), net(image, prior), atol=0.05)
    (tmp_path / "other.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read"):
        load_head(tmp_path / "other.pth")


# -- real footage ------------------------------------------------------------------------------------


#: Mean IoU on every 10th frame of two held-out videos (the shipped head never trained on them),
#: tight and jittered boxes together: measured when the head shipped, head 0.774, GrabCut 0.569
#: (9 frames; the README has the full held-out table).
HELD_OUT_VIDEOS = ("dog-agility", "horsejump-low")
HEAD_HELD_OUT_BOUND = 0.72
GRABCUT_HELD_OUT_BOUND = 0.50


def test_the_head_beats_grabcut_on_held_out_real_footage(two_threads, davis_root: Path) -> None:
    head = BoxSegmenter(SegmenterConfig(method="head"))
    grabcut = BoxSegmenter(SegmenterConfig(method="grabcut"))
    methods = {"head": lambda image, box: head.masks(image, [box])[0],
               "grabcut": lambda image, box: grabcut.masks(image, [box])[0]}
    scores = score_methods(davis_root, HELD_OUT_VIDEOS, methods, every=10)
    mean = {name: float(np.mean([s.iou for s in scores if s.method == name])) for name in methods}
    assert mean["head"] > HEAD_HELD_OUT_BOUND, markdown_table(scores)
    assert mean["grabcut"] > GRABCUT_HELD_OUT_BOUND, markdown_table(scores)
    assert mean["head"] > mean["grabcut"] + 0.1, markdown_table(scores)


def test_auto_takes_grabcut_where_the_head_misses_a_flat_shape(two_threads) -> None:
    """A flat rectangle in a tight box: the head finds little of it (the case that made
    ``auto`` fail), so ``auto`` takes GrabCut's mask for that box and finds all of it."""
    from aotvideo.boxmask.segmenter import AUTO_MIN_FILL

    image = np.full((220, 260, 3), 40, np.uint8)
    image[40:165, 50:200] = (200, 60, 60)             # 150 x 125 = 18,750 pixels
    truth = np.zeros((220, 260), bool)
    truth[40:165, 50:200] = True
    box = [(50, 40, 200, 165)]
    head = BoxSegmenter(SegmenterConfig(method="head")).masks(image, box)[0]
    auto = BoxSegmenter(SegmenterConfig(method="auto")).masks(image, box)[0]
    grabcut = BoxSegmenter(SegmenterConfig(method="grabcut")).masks(image, box)[0]
    assert head[40:165, 50:200].mean() < AUTO_MIN_FILL  # the head's failure, as reported
    assert iou(auto, truth) > 0.9
    np.testing.assert_array_equal(auto, grabcut)
