"""J, F and the Mean/Recall/Decay statistics: hand-computed cases and the toolkit's formulas."""
from __future__ import annotations

import math

import numpy as np
import pytest
from toolkit_reference import ref_boundary, ref_f, ref_iou, ref_sequence, ref_statistics

from aotvideo.evaluation.metrics import (
    boundary_f_measure,
    boundary_map,
    boundary_radius,
    decay_bins,
    disk,
    region_similarity,
    sequence_scores,
    statistics,
)


def half_plane(height: int, width: int, edge: int) -> np.ndarray:
    """Foreground columns ``x < edge``."""
    mask = np.zeros((height, width), dtype=bool)
    mask[:, :edge] = True
    return mask


def blobs(rng: np.random.Generator, shape: tuple[int, ...], density: float) -> np.ndarray:
    """Random smooth-ish masks: coarse noise upsampled, thresholded (plus a little salt)."""
    *lead, h, w = shape
    coarse = rng.random((*lead, h // 4 + 1, w // 4 + 1))
    fine = np.repeat(np.repeat(coarse, 4, axis=-2), 4, axis=-1)[..., :h, :w]
    salt = rng.random(shape) < 0.002
    return (fine < density) ^ salt


# --- J ------------------------------------------------------------------------------------------

def test_j_identical_disjoint_and_empty() -> None:
    a = half_plane(20, 30, 10)
    b = ~a
    empty = np.zeros_like(a)
    assert region_similarity(a, a) == 1.0
    assert region_similarity(a, b) == 0.0
    assert region_similarity(empty, empty) == 1.0  # empty / empty counts as perfect
    assert region_similarity(a, empty) == 0.0
    assert region_similarity(empty, a) == 0.0


def test_j_shifted_edge_is_known_ratio() -> None:
    gt = half_plane(100, 100, 50)
    pred = half_plane(100, 100, 53)
    assert region_similarity(gt, pred) == pytest.approx(50 / 53, abs=0)


def test_j_stack_and_void() -> None:
    gt = np.stack([half_plane(10, 10, 4), np.zeros((10, 10), bool)])
    pred = np.stack([half_plane(10, 10, 8), np.zeros((10, 10), bool)])
    np.testing.assert_array_equal(region_similarity(gt, pred), [0.5, 1.0])
    void = np.zeros((10, 10), bool)
    void[:, 4:] = True  # ignore the columns where they disagree
    np.testing.assert_array_equal(region_similarity(gt, pred, void), [1.0, 1.0])


# --- boundaries and F ---------------------------------------------------------------------------

def test_boundary_map_rules() -> None:
    seg = np.zeros((4, 5), bool)
    seg[1:3, 1:3] = True
    expected = np.array([
        [1, 1, 1, 0, 0],   # above the square: the lower / lower-right neighbour differs
        [1, 0, 1, 0, 0],
        [1, 1, 1, 0, 0],
        [0, 0, 0, 0, 0],
    ], dtype=bool)
    np.testing.assert_array_equal(boundary_map(seg), expected)
    np.testing.assert_array_equal(boundary_map(seg), ref_boundary(seg))
    full = np.ones((4, 5), bool)  # a full frame has no boundary at all
    assert not boundary_map(full).any()
    last = np.zeros((4, 5), bool)
    last[3, 2] = True  # last row: only the right neighbour counts
    np.testing.assert_array_equal(np.argwhere(boundary_map(last)), [[2, 1], [2, 2], [3, 1], [3, 2]])
    np.testing.assert_array_equal(boundary_map(last), ref_boundary(last))


def test_disk_and_radius() -> None:
    np.testing.assert_array_equal(disk(1), [[0, 1, 0], [1, 1, 1], [0, 1, 0]])
    d2 = disk(2)
    assert d2.shape == (5, 5) and d2.sum() == 13  # x^2 + y^2 <= 4
    assert boundary_radius((480, 854)) == 8.0  # ceil(0.008 * 979.7)
    assert boundary_radius((100, 100)) == 2.0  # ceil(0.008 * 141.4)
    assert boundary_radius((100, 100), 3) == 3


def test_f_identical_disjoint_empty() -> None:
    a = np.zeros((40, 60), bool)
    a[5:20, 5:25] = True
    far = np.zeros_like(a)
    far[25:38, 35:55] = True
    empty = np.zeros_like(a)
    assert boundary_f_measure(a, a) == 1.0
    assert boundary_f_measure(a, far) == 0.0
    assert boundary_f_measure(empty, empty) == 1.0
    assert boundary_f_measure(a, empty) == 0.0  # precision 1, recall 0
    assert boundary_f_measure(empty, a) == 0.0  # precision 0, recall 1


@pytest.mark.parametrize("shift", [1, 2])
def test_f_shift_within_tolerance_is_perfect(shift: int) -> None:
    # 100 x 100: tolerance radius ceil(0.008 * 141.4) = 2 pixels.
    gt = half_plane(100, 100, 50)
    assert boundary_f_measure(gt, half_plane(100, 100, 50 + shift)) == 1.0


def test_f_shift_beyond_tolerance_is_zero() -> None:
    gt = half_plane(100, 100, 50)
    assert boundary_f_measure(gt, half_plane(100, 100, 53)) == 0.0
    # ...unless the tolerance is widened to 3 pixels
    assert boundary_f_measure(gt, half_plane(100, 100, 53), bound_th=3) == 1.0


def test_f_partial_shift_known_value() -> None:
    # Ground truth: columns x < 50 (boundary: column 49, 100 pixels).
    # Prediction: same for rows 0..49, shifted right by 5 (x < 55) for rows 50..99.
    # Prediction boundary: column 49 rows 0..49 (50 px), row 49 x = 50..54 (5 px, above the
    # step), column 54 rows 50..99 (50 px): 105 px.  Radius 2:
    #   matched prediction pixels: column 49 rows 0..49 (50) + (49, 50), (49, 51) (2) = 52
    #   matched ground-truth pixels: rows 0..49 (50) + rows 50, 51 (within 2 of (49, 49)) = 52
    gt = half_plane(100, 100, 50)
    pred = gt.copy()
    pred[50:, :55] = True
    assert boundary_map(pred).sum() == 105
    precision, recall = 52 / 105, 52 / 100
    expected = 2 * precision * recall / (precision + recall)
    assert boundary_f_measure(gt, pred) == pytest.approx(expected, abs=1e-15)
    assert ref_f(gt, pred) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("shape", [(37, 53), (64, 64), (120, 90), (240, 427)])
def test_f_and_j_equal_toolkit_formulas_on_random_masks(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(shape[0] * 1000 + shape[1])
    frames = 12
    gt = blobs(rng, (frames, *shape), 0.35)
    pred = blobs(rng, (frames, *shape), 0.35) | (gt & (rng.random((frames, *shape)) < 0.9))
    gt[3] = False  # an empty ground-truth frame
    pred[5] = False  # an empty prediction
    gt[7] = pred[7] = False  # both empty
    pred[9] = gt[9]  # perfect
    j = region_similarity(gt, pred)
    f = boundary_f_measure(gt, pred)
    assert j.shape == f.shape == (frames,)
    for t in range(frames):
        assert j[t] == ref_iou(gt[t], pred[t])
        assert f[t] == ref_f(gt[t], pred[t])  # bit-identical, not merely close
    assert f[7] == 1.0 and f[9] == 1.0 and f[3] == 0.0 and f[5] == 0.0


def test_f_accepts_extra_leading_dimensions() -> None:
    rng = np.random.default_rng(7)
    gt = blobs(rng, (2, 3, 30, 40), 0.4)
    pred = blobs(rng, (2, 3, 30, 40), 0.4)
    f = boundary_f_measure(gt, pred)
    assert f.shape == (2, 3)
    assert f[1, 2] == ref_f(gt[1, 2], pred[1, 2])


# --- statistics ---------------------------------------------------------------------------------

def test_decay_bins_four_bins() -> None:
    # 9 frames: edges round(linspace(1, 9, 5)) - 1 = [0, 2, 4, 6, 8]; bins share their edge frame
    assert decay_bins(9) == [slice(0, 3), slice(2, 5), slice(4, 7), slice(6, 9)]
    # 10 frames: linspace = [1, 3.25, 5.5, 7.75, 10] -> [1, 3, 6, 8, 10] - 1
    assert decay_bins(10) == [slice(0, 3), slice(2, 6), slice(5, 8), slice(7, 10)]
    # 3 frames: 1.5 and 2.5 round up (the toolkit's +1e-10), not to even
    assert decay_bins(3) == [slice(0, 2), slice(1, 2), slice(1, 3), slice(2, 3)]


def test_statistics_mean_recall_decay() -> None:
    values = np.arange(10, dtype=float) / 10  # 0.0 .. 0.9
    s = statistics(values)
    assert s.mean == pytest.approx(0.45)
    assert s.recall == 0.4  # 0.6, 0.7, 0.8, 0.9: strictly above 0.5
    assert s.decay == pytest.approx(np.mean([0.0, 0.1, 0.2]) - np.mean([0.7, 0.8, 0.9]))
    assert statistics(np.array([0.5, 0.51, 0.2, 1.0])).recall == 0.5  # 0.5 itself does not count
    three = statistics(np.array([1.0, 0.8, 0.3]))
    assert three.decay == pytest.approx(0.9 - 0.3)


def test_statistics_nan_and_empty() -> None:
    s = statistics(np.array([1.0, np.nan, 0.0, 1.0, 1.0]))
    assert s.mean == 0.75
    assert s.recall == 0.6  # NaN is not above 0.5, but counts in the denominator
    empty = statistics(np.array([]))
    assert math.isnan(empty.mean) and math.isnan(empty.recall) and math.isnan(empty.decay)


@pytest.mark.parametrize("length", [1, 2, 3, 4, 5, 7, 13, 50, 104])
def test_statistics_equal_toolkit_formulas(length: int) -> None:
    values = np.random.default_rng(length).random(length)
    s = statistics(values)
    mean, recall, decay = ref_statistics(values)
    assert (s.mean, s.recall) == (mean, recall)
    assert s.decay == decay or (math.isnan(s.decay) and math.isnan(decay))


def test_statistics_long_sequences_wrap_like_the_toolkit() -> None:
    # The toolkit stores the bin edges as uint8, so past 255 frames they wrap around.
    values = np.random.default_rng(3).random(300)
    s = statistics(values)
    _, _, decay = ref_statistics(values)
    assert s.decay == decay or (math.isnan(s.decay) and math.isnan(decay))


# --- whole sequences ----------------------------------------------------------------------------

def test_sequence_scores_equal_toolkit_on_random_label_maps() -> None:
    rng = np.random.default_rng(11)
    frames, h, w = 8, 48, 64
    gt = np.zeros((frames, h, w), np.uint8)
    pred = np.zeros((frames, h, w), np.uint8)
    for k in (1, 2, 3):
        gt[blobs(rng, (frames, h, w), 0.2)] = k
        pred[blobs(rng, (frames, h, w), 0.2) | (gt == k)] = k
    gt[2][:5, :5] = 255  # void label in the ground truth is background
    pred[4][pred[4] == 2] = 0  # object 2 lost in one frame
    j_ref, f_ref = ref_sequence(gt, pred)
    gt_scored = np.where(gt == 255, 0, gt)[1:-1]
    j, f = sequence_scores(gt_scored, pred[1:-1], int(gt[0].max()))
    np.testing.assert_array_equal(j, j_ref)
    np.testing.assert_array_equal(f, f_ref)


@pytest.mark.parametrize("where", ["top-left", "bottom-right", "interior", "pixel-corner",
                                   "full-frame"])
def test_sequence_scores_crop_is_exact_at_the_borders(where: str) -> None:
    # sequence_scores works on the objects' bounding windows; the edge rules of the boundary
    # map must come out as on whole frames.
    frames, h, w = 5, 30, 41
    gt = np.zeros((frames, h, w), np.uint8)
    pred = np.zeros_like(gt)
    window = {
        "top-left": (slice(0, 9), slice(0, 12)),
        "bottom-right": (slice(h - 9, h), slice(w - 12, w)),
        "interior": (slice(10, 19), slice(12, 25)),
        "pixel-corner": (slice(h - 1, h), slice(w - 1, w)),
        "full-frame": (slice(0, h), slice(0, w)),
    }[where]
    rng = np.random.default_rng(len(where))
    for t in range(frames):
        region = gt[t][window]
        region[...] = rng.random(region.shape) < 0.7
        pred[t][window] = np.where(rng.random(region.shape) < 0.8, region, 1 - region)
    j_ref, f_ref = ref_sequence(np.concatenate([np.ones((1, h, w), np.uint8), gt]),
                                np.concatenate([np.ones((1, h, w), np.uint8), pred]))
    j, f = sequence_scores(gt[:-1], pred[:-1], 1)
    np.testing.assert_array_equal(j, j_ref)
    np.testing.assert_array_equal(f, f_ref)
