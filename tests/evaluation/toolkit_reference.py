"""A deliberately plain, frame-by-frame restatement of the DAVIS 2017 toolkit's formulas.

Used only by the tests, as the yardstick for the vectorised implementation in
``aotvideo.evaluation.metrics``: boundaries from shifted copies of the mask with the toolkit's
edge rules, dilation of the full frame with a disk built from a mesh grid, per-frame loops, and
Mean/Recall/Decay with the 4 bins computed from ``linspace`` and a uint8 cast.
"""
from __future__ import annotations

import warnings

import cv2
import numpy as np


def ref_iou(gt: np.ndarray, pred: np.ndarray) -> float:
    """J of one frame (H x W bool each)."""
    inter = np.sum(gt & pred)
    union = np.sum(gt | pred)
    if union == 0:
        return 1.0
    return float(inter / union)


def ref_boundary(seg: np.ndarray) -> np.ndarray:
    """Boundary map of one H x W mask, written with explicit neighbour arrays."""
    seg = seg.astype(bool)
    east = np.zeros_like(seg)
    south = np.zeros_like(seg)
    south_east = np.zeros_like(seg)
    east[:, :-1] = seg[:, 1:]
    south[:-1, :] = seg[1:, :]
    south_east[:-1, :-1] = seg[1:, 1:]
    out = (seg ^ east) | (seg ^ south) | (seg ^ south_east)
    out[-1, :] = seg[-1, :] ^ east[-1, :]
    out[:, -1] = seg[:, -1] ^ south[:, -1]
    out[-1, -1] = False
    return out


def ref_disk(radius: float) -> np.ndarray:
    axis = np.arange(-radius, radius + 1)
    xx, yy = np.meshgrid(axis, axis)
    return (xx**2 + yy**2 <= radius**2).astype(np.uint8)


def ref_f(gt: np.ndarray, pred: np.ndarray, bound_th: float = 0.008) -> float:
    """F of one frame (H x W bool each)."""
    radius = bound_th if bound_th >= 1 else np.ceil(bound_th * np.linalg.norm(pred.shape))
    pred_b = ref_boundary(pred)
    gt_b = ref_boundary(gt)
    kernel = ref_disk(radius)
    pred_dil = cv2.dilate(pred_b.astype(np.uint8), kernel)
    gt_dil = cv2.dilate(gt_b.astype(np.uint8), kernel)
    n_pred = np.sum(pred_b)
    n_gt = np.sum(gt_b)
    if n_pred == 0 and n_gt > 0:
        precision, recall = 1.0, 0.0
    elif n_pred > 0 and n_gt == 0:
        precision, recall = 0.0, 1.0
    elif n_pred == 0 and n_gt == 0:
        precision, recall = 1.0, 1.0
    else:
        precision = np.sum(pred_b * gt_dil) / float(n_pred)
        recall = np.sum(gt_b * pred_dil) / float(n_gt)
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


def ref_statistics(values: np.ndarray) -> tuple[float, float, float]:
    """Mean, Recall, Decay of per-frame values."""
    values = np.asarray(values, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean = np.nanmean(values)
        recall = np.nanmean(values > 0.5)
        edges = (np.round(np.linspace(1, len(values), 5) + 1e-10) - 1).astype(np.uint8)
        bins = [values[edges[i]:edges[i + 1] + 1] for i in range(4)]
        decay = np.nanmean(bins[0]) - np.nanmean(bins[3])
    return float(mean), float(recall), float(decay)


def ref_sequence(gt_labels: np.ndarray, pred_labels: np.ndarray, bound_th: float = 0.008):
    """Per-object per-frame J and F of a sequence of label maps (T x H x W), toolkit style:
    K from the first frame, frames 1..T-2 scored, 255 in the ground truth is background."""
    gt_labels = np.where(gt_labels == 255, 0, gt_labels)
    k = int(gt_labels[0].max())
    gt = gt_labels[1:-1]
    pred = pred_labels[1:-1]
    j = np.zeros((k, gt.shape[0]))
    f = np.zeros((k, gt.shape[0]))
    for obj in range(1, k + 1):
        for t in range(gt.shape[0]):
            j[obj - 1, t] = ref_iou(gt[t] == obj, pred[t] == obj)
            f[obj - 1, t] = ref_f(gt[t] == obj, pred[t] == obj, bound_th)
    return j, f
