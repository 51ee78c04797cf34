"""Region similarity J and boundary accuracy F, as the DAVIS 2017 toolkit scores them.

The definitions follow the semi-supervised evaluation of ``davisvideochallenge/davis2017-evaluation``
to the bit (same arithmetic in the same order), but are computed on whole stacks of frames at once:

* **J** is the intersection over union of a predicted and a ground-truth object mask, 1 when both
  are empty.
* **F** compares one-pixel boundary maps (each foreground pixel whose right, lower or lower-right
  neighbour differs; along the last row only the right neighbour counts, along the last column only
  the lower one, never the bottom-right pixel).  A boundary pixel of one map is matched when the
  other map has a boundary pixel within a disk of radius ``ceil(0.008 * image diagonal)``
  (``x*x + y*y <= r*r``).  Precision is the matched share of predicted boundary pixels, recall
  that of ground-truth ones; a map without boundary pixels gives precision 1 / recall 0 (or the
  reverse), both empty give 1 / 1, and ``F = 2PR / (P + R)`` or 0 when ``P + R == 0``.
* **Statistics** per object over its scored frames: Mean (NaN-aware), Recall (share of frames
  above 0.5) and Decay (mean of the first of four temporal bins minus mean of the last, with the
  toolkit's own rounding of the bin edges).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import cv2
import numpy as np

#: Default boundary tolerance: a fraction of the image diagonal (values >= 1 are pixels).
BOUNDARY_THRESHOLD = 0.008

#: Number of temporal bins of the Decay statistic.
DECAY_BINS = 4

#: Frames whose J/F exceeds this count towards Recall.
RECALL_THRESHOLD = 0.5


def disk(radius: float) -> np.ndarray:
    """Disk structuring element: offsets ``(x, y)`` with ``x*x + y*y <= radius*radius``.

    Args:
        radius: half-width; integer in practice (``np.arange(-radius, radius + 1)`` along each axis).

    Returns:
        ``(2r+1) x (2r+1)`` uint8 array of 0/1.
    """
    offsets = np.arange(-radius, radius + 1)
    return ((offsets[None, :] ** 2 + offsets[:, None] ** 2) <= radius**2).astype(np.uint8)


def boundary_radius(shape: tuple[int, int], bound_th: float = BOUNDARY_THRESHOLD) -> float:
    """Tolerance radius in pixels for frames of ``shape`` (H, W).

    ``bound_th`` itself when it is >= 1, else ``ceil(bound_th * sqrt(H^2 + W^2))``.
    """
    if bound_th >= 1:
        return bound_th
    return float(np.ceil(bound_th * np.linalg.norm(shape)))


def region_similarity(
    gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None
) -> np.ndarray:
    """Jaccard index per frame.

    Args:
        gt: ``(..., H, W)`` boolean ground-truth masks.
        pred: ``(..., H, W)`` boolean predicted masks, same shape.
        void: optional ``(..., H, W)`` (or broadcastable) boolean mask of pixels to ignore.

    Returns:
        ``(...)`` float64: |gt & pred| / |gt | pred| over non-void pixels, 1 where the union is empty.
    """
    gt = np.asarray(gt, dtype=bool)
    pred = np.asarray(pred, dtype=bool)
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth {gt.shape} and prediction {pred.shape} differ in shape")
    inter = gt & pred
    union = gt | pred
    if void is not None:
        keep = ~np.asarray(void, dtype=bool)
        inter &= keep
        union &= keep
    inter_n = np.count_nonzero(inter, axis=(-2, -1))
    union_n = np.count_nonzero(union, axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        j = np.asarray(inter_n / union_n, dtype=np.float64)
    j[union_n == 0] = 1.0
    return j


def boundary_map(seg: np.ndarray) -> np.ndarray:
    """One-pixel boundaries of binary masks, offset half a pixel towards the origin.

    A pixel is on the boundary when it differs from its right, lower or lower-right neighbour,
    where the image is extended by repeating its last row and column (so along the last row only
    the right neighbour can differ, along the last column only the lower one).

    Args:
        seg: ``(..., H, W)`` masks (non-zero = foreground).

    Returns:
        ``(..., H, W)`` bool boundary maps.
    """
    seg = np.asarray(seg) != 0
    pad = [(0, 0)] * (seg.ndim - 2) + [(0, 1), (0, 1)]
    ext = np.pad(seg, pad, mode="edge")
    right = ext[..., :-1, 1:]
    down = ext[..., 1:, :-1]
    diag = ext[..., 1:, 1:]
    return (seg != right) | (seg != down) | (seg != diag)


def _match_counts(
    pred_b: np.ndarray, gt_b: np.ndarray, kernel: np.ndarray
) -> tuple[int, int]:
    """Matched boundary pixels of one frame.

    Args:
        pred_b: ``H x W`` bool predicted boundary.
        gt_b: ``H x W`` bool ground-truth boundary.
        kernel: structuring element of the tolerance.

    Returns:
        (predicted boundary pixels near the ground truth boundary,
         ground-truth boundary pixels near the predicted boundary)
    """
    # All boundary pixels lie in the bounding box of their union, and the dilation there depends
    # on boundary pixels only, so dilating the box alone is exact (and much cheaper).
    either = pred_b | gt_b
    rows = np.flatnonzero(either.any(axis=1))
    cols = np.flatnonzero(either.any(axis=0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    both = np.empty((y1 - y0, x1 - x0, 2), dtype=np.uint8)
    both[..., 0] = pred_b[y0:y1, x0:x1]
    both[..., 1] = gt_b[y0:y1, x0:x1]
    dil = cv2.dilate(both, kernel)
    pred_match = int(np.count_nonzero(both[..., 0] & dil[..., 1]))
    gt_match = int(np.count_nonzero(both[..., 1] & dil[..., 0]))
    return pred_match, gt_match


def boundary_f_measure(
    gt: np.ndarray,
    pred: np.ndarray,
    void: np.ndarray | None = None,
    bound_th: float = BOUNDARY_THRESHOLD,
    image_shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """Boundary F-measure per frame.

    Args:
        gt: ``(..., H, W)`` boolean ground-truth masks.
        pred: ``(..., H, W)`` boolean predicted masks, same shape.
        void: optional ``(..., H, W)`` (or broadcastable) mask of pixels removed from both masks
            before their boundaries are taken.
        bound_th: tolerance, fraction of the diagonal (< 1) or pixels (>= 1).
        image_shape: (H, W) of the whole frames when ``gt``/``pred`` are crops of them (see
            :func:`object_crop`); it sets the tolerance radius.  Default: the masks' own size.

    Returns:
        ``(...)`` float64 F per frame.
    """
    gt = np.asarray(gt, dtype=bool)
    pred = np.asarray(pred, dtype=bool)
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth {gt.shape} and prediction {pred.shape} differ in shape")
    if gt.ndim < 2:
        raise ValueError("masks must have at least two dimensions (H, W)")
    if void is not None:
        keep = ~np.asarray(void, dtype=bool)
        gt = gt & keep
        pred = pred & keep
    lead = gt.shape[:-2]
    height, width = gt.shape[-2:]
    gt_b = boundary_map(gt).reshape(-1, height, width)
    pred_b = boundary_map(pred).reshape(-1, height, width)
    n_gt = np.count_nonzero(gt_b, axis=(1, 2))
    n_pred = np.count_nonzero(pred_b, axis=(1, 2))
    kernel = disk(boundary_radius(image_shape or (height, width), bound_th))

    out = np.zeros(gt_b.shape[0], dtype=np.float64)
    out[(n_pred == 0) & (n_gt == 0)] = 1.0  # precision = recall = 1
    # One side empty: (P, R) = (1, 0) or (0, 1), hence F = 0 (already).
    for i in np.flatnonzero((n_pred > 0) & (n_gt > 0)):
        pred_match, gt_match = _match_counts(pred_b[i], gt_b[i], kernel)
        precision = pred_match / float(n_pred[i])
        recall = gt_match / float(n_gt[i])
        if precision + recall != 0:
            out[i] = 2 * precision * recall / (precision + recall)
    return out.reshape(lead)


def object_crop(*masks: np.ndarray) -> tuple[slice, slice]:
    """A window of the frames outside which no mask has foreground or boundary pixels.

    Boundary pixels lie on the foreground or one pixel above / left of it, and deciding them
    needs one more row and column below / right; the window is the bounding box of all
    foreground grown by one pixel on every side, clipped to the frame.  J and F computed on
    ``mask[..., rows, cols]`` (F with ``image_shape`` of the whole frame) equal those of the whole
    frames.

    Args:
        masks: ``(..., H, W)`` boolean stacks of one size.

    Returns:
        (rows, cols) slices; empty slices when all masks are empty.
    """
    height, width = masks[0].shape[-2:]
    rows = np.zeros(height, dtype=bool)
    cols = np.zeros(width, dtype=bool)
    for mask in masks:
        flat = mask.reshape(-1, height, width)
        rows |= flat.any(axis=(0, 2))
        cols |= flat.any(axis=(0, 1))
    if not rows.any():
        return slice(0, 0), slice(0, 0)
    r = np.flatnonzero(rows)
    c = np.flatnonzero(cols)
    return (
        slice(max(0, int(r[0]) - 1), min(height, int(r[-1]) + 2)),
        slice(max(0, int(c[0]) - 1), min(width, int(c[-1]) + 2)),
    )


def _toolkit_index(value: np.ndarray | int) -> np.ndarray:
    """Bin edges as the toolkit stores them: cast to uint8, i.e. taken modulo 256.

    Only sequences with more than 255 scored frames are affected; DAVIS has none.
    """
    return np.asarray(value, dtype=np.int64) % 256


def decay_bins(num_frames: int, bins: int = DECAY_BINS) -> list[slice]:
    """The toolkit's temporal bins over ``num_frames`` scored frames.

    Edges are ``round(linspace(1, n, bins + 1)) - 1``; bin ``i`` spans edge ``i`` to edge ``i + 1``
    inclusive, so neighbouring bins share a frame.

    Returns:
        ``bins`` slices into the per-frame values.
    """
    edges = np.round(np.linspace(1, num_frames, bins + 1) + 1e-10) - 1
    edges = _toolkit_index(edges)
    return [
        slice(int(edges[i]), int(_toolkit_index(int(edges[i + 1]) + 1))) for i in range(bins)
    ]


def _nanmean(values: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        return float(np.nanmean(values))


@dataclass(frozen=True)
class Statistics:
    """Mean, Recall and Decay of one object's per-frame J or F values."""

    mean: float
    recall: float
    decay: float


def statistics(values: np.ndarray) -> Statistics:
    """Mean, Recall and Decay of per-frame values, as the toolkit computes them.

    Args:
        values: ``(T,)`` per-frame J or F of one object (NaN allowed).

    Returns:
        mean: NaN-ignoring mean; recall: share of frames with value > 0.5 (NaN counts as not);
        decay: mean of the first of four bins minus mean of the last (NaN when a bin is empty).
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    mean = _nanmean(values)
    recall = _nanmean(values > RECALL_THRESHOLD)
    bins = decay_bins(values.shape[0])
    decay = _nanmean(values[bins[0]]) - _nanmean(values[bins[-1]])
    return Statistics(mean=mean, recall=recall, decay=decay)


def sequence_scores(
    gt_labels: np.ndarray,
    pred_labels: np.ndarray,
    num_objects: int,
    bound_th: float = BOUNDARY_THRESHOLD,
) -> tuple[np.ndarray, np.ndarray]:
    """J and F of every object of one sequence.

    Args:
        gt_labels: ``(T, H, W)`` integer ground-truth label maps of the scored frames.
        pred_labels: ``(T, H, W)`` integer predicted label maps of the same frames.
        num_objects: objects ``1..num_objects`` are scored; other labels count as background.
        bound_th: boundary tolerance of F.

    Returns:
        (J, F), each ``(num_objects, T)`` float64.
    """
    gt_labels = np.asarray(gt_labels)
    pred_labels = np.asarray(pred_labels)
    if gt_labels.shape != pred_labels.shape:
        raise ValueError(
            f"ground truth {gt_labels.shape} and prediction {pred_labels.shape} differ in shape"
        )
    frames = gt_labels.shape[0]
    image_shape = gt_labels.shape[1:]
    j = np.ones((num_objects, frames), dtype=np.float64)  # empty in both: J = F = 1
    f = np.ones((num_objects, frames), dtype=np.float64)
    for k in range(num_objects):
        gt_k = gt_labels == k + 1
        pred_k = pred_labels == k + 1
        rows, cols = object_crop(gt_k, pred_k)
        if rows.stop == rows.start:
            continue
        gt_k = gt_k[:, rows, cols]
        pred_k = pred_k[:, rows, cols]
        j[k] = region_similarity(gt_k, pred_k)
        f[k] = boundary_f_measure(gt_k, pred_k, bound_th=bound_th, image_shape=image_shape)
    return j, f


def mean_or_nan(values: list[float]) -> float:
    """Plain mean of a list (NaN propagates, empty gives NaN), as ``np.mean`` of the toolkit."""
    if not values:
        return math.nan
    return float(np.mean(np.asarray(values, dtype=np.float64)))
