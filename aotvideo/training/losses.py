"""Losses of the original training: bootstrapped cross-entropy and soft Jaccard.

Both are computed per clip over the identity channels in use (background plus the clip's
objects) and returned per clip, so they can be averaged over any batch split.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def hard_pixel_fraction(step: int, top_k_percent: float, mining_steps: float) -> float:
    """Fraction of pixels the bootstrapped cross-entropy averages at ``step``.

    All pixels at step 0, falling linearly to ``top_k_percent`` at ``mining_steps``.
    """
    if top_k_percent >= 1.0:
        return 1.0
    if mining_steps <= 0:
        return top_k_percent
    ratio = min(1.0, step / float(mining_steps))
    return ratio * top_k_percent + (1.0 - ratio)


def bootstrapped_cross_entropy(logits: torch.Tensor, labels: torch.Tensor,
                               fraction: float) -> torch.Tensor:
    """Mean cross-entropy of the hardest ``fraction`` of each clip's pixels.

    Args:
        logits: (B, C, H, W) float32; channels beyond a clip's objects must be very negative.
        labels: (B, H, W) int64.
        fraction: in (0, 1].

    Returns:
        (B,) per-clip losses.
    """
    pixel = F.cross_entropy(logits, labels, reduction="none").flatten(1)
    count = pixel.shape[1]
    keep = max(int(fraction * count), 1)
    if keep >= count:
        return pixel.mean(dim=1)
    return torch.topk(pixel, keep, dim=1, sorted=False).values.mean(dim=1)


def soft_jaccard(logits: torch.Tensor, labels: torch.Tensor, num_objects: torch.Tensor,
                 eps: float = 1.0) -> torch.Tensor:
    """1 - soft IoU per identity channel, averaged over the channels each clip uses.

    Args:
        logits: (B, C, H, W) float32.
        labels: (B, H, W) int64.
        num_objects: (B,) objects per clip; channels 0..num_objects count.
        eps: smoothing of the ratio.

    Returns:
        (B,) per-clip losses.
    """
    channels = logits.shape[1]
    prob = torch.softmax(logits, dim=1)
    target = F.one_hot(labels, channels).permute(0, 3, 1, 2).to(prob.dtype)
    inter = (prob * target).sum(dim=(2, 3))
    union = prob.sum(dim=(2, 3)) + target.sum(dim=(2, 3)) - inter
    loss = 1.0 - (inter + eps) / (union + eps)
    used = torch.arange(channels, device=logits.device)[None] <= num_objects[:, None]
    return (loss * used).sum(dim=1) / used.sum(dim=1)


def frame_loss(logits: torch.Tensor, labels: torch.Tensor, num_objects: torch.Tensor,
               fraction: float) -> torch.Tensor:
    """0.5 x bootstrapped cross-entropy + 0.5 x soft Jaccard, per clip (B,)."""
    return 0.5 * bootstrapped_cross_entropy(logits, labels, fraction) + \
        0.5 * soft_jaccard(logits, labels, num_objects)


def object_iou(pred: torch.Tensor, labels: torch.Tensor, num_objects: torch.Tensor,
               eps: float = 1e-5) -> torch.Tensor:
    """Mean IoU over each clip's objects (1 for clips without objects), (B,)."""
    out = []
    for p, l, n in zip(pred, labels, num_objects.tolist()):
        if n == 0:
            out.append(torch.ones((), device=pred.device))
            continue
        ids = torch.arange(1, n + 1, device=pred.device).view(-1, 1, 1)
        pm, lm = p[None] == ids, l[None] == ids
        inter = (pm & lm).sum(dim=(1, 2)).float()
        union = (pm | lm).sum(dim=(1, 2)).float()
        out.append(((inter + eps) / (union + eps)).mean())
    return torch.stack(out)
