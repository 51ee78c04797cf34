"""Windowed (short-term) attention in O(HW * window²), without dense HW x HW matrices.

The short-term memory of AOT/DeAOT is read by attention restricted to a (2r+1)x(2r+1) window
around each query position (r = 7 for the published models).  The original code builds a dense
(HW)x(HW) attention matrix and fills the window entries into it.  Here the window is handled one
window row at a time: queries are cut into tiles of ``T`` columns, and each tile meets the
``T + 2r`` key columns of one window row in a small matrix product, from which the diagonal band
that forms the window is read.  The cost is ``HW * (2r+1) * (T+2r)`` multiply-adds per channel,
a few times the ideal ``HW * (2r+1)²`` and far below the dense ``(HW)²``.

Tensors are channels-last: ``(batch, height, width, channels)``, where "batch" is batch x heads.
Window entries are ordered row-major, ``index = dy * (2r+1) + dx`` with ``dy, dx`` in ``[0, 2r]``
(offset ``dy - r`` rows, ``dx - r`` columns), the order of ``torch.nn.functional.unfold`` and of
``spatial_correlation_sampler`` used by the original implementation.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

try:  # optional CUDA/C++ accelerator; never required
    from spatial_correlation_sampler import spatial_correlation_sample as _correlation_sample
except Exception:  # noqa: BLE001 - any import failure means "not available"
    _correlation_sample = None

_TILE = 16


def _tile_width(width: int) -> int:
    return min(width, _TILE)


def _pad_to_tiles(x: torch.Tensor, radius: int, tile: int) -> tuple[torch.Tensor, int]:
    """Zero-pad ``x`` (B, H, W, C) by ``radius`` on every side and on the right up to whole tiles.

    Returns the padded tensor (B, H + 2r, nt*T + 2r, C) and the number of tiles ``nt``.
    """
    width = x.shape[2]
    num_tiles = -(-width // tile)
    extra = num_tiles * tile - width
    return F.pad(x, (0, 0, radius, radius + extra, radius, radius)), num_tiles


def _key_tiles(padded: torch.Tensor, dy: int, height: int, num_tiles: int, tile: int,
               radius: int) -> torch.Tensor:
    """View of the key rows ``dy .. dy+H`` cut into overlapping tiles of ``T + 2r`` columns.

    Returns (B, H, nt, T + 2r, C), a strided view (no copy) into ``padded``.
    """
    b, _, wp, c = padded.shape
    sb, sh, sw, sc = padded.stride()
    return padded.as_strided((b, height, num_tiles, tile + 2 * radius, c),
                             (sb, sh, tile * sw, sw, sc), padded.storage_offset() + dy * sh)


def _band(matrix: torch.Tensor, tile: int, radius: int) -> torch.Tensor:
    """The window band of tile products: (..., T, T + 2r) -> view (..., T, 2r + 1), entry
    ``[t, dx] = matrix[t, t + dx]``."""
    window = 2 * radius + 1
    *lead, rows, cols = matrix.shape
    strides = matrix.stride()
    return matrix.as_strided((*lead, rows, window), (*strides[:-2], cols + 1, 1),
                             matrix.storage_offset())


def local_logits(query: torch.Tensor, key: torch.Tensor, radius: int) -> torch.Tensor:
    """Dot products of every query with the keys in its window.

    Args:
        query: (B, H, W, C) channels-last queries.
        key: (B, H, W, C) channels-last keys; positions outside the image count as zero vectors.
        radius: window radius r.

    Returns:
        (B, H, W, (2r+1)²) logits, window entries row-major.
    """
    b, height, width, c = query.shape
    window = 2 * radius + 1
    if _correlation_sample is not None and query.is_cuda and query.dtype == torch.float32:
        corr = _correlation_sample(query.permute(0, 3, 1, 2).contiguous(),
                                   key.permute(0, 3, 1, 2).contiguous(), kernel_size=1,
                                   patch_size=window, stride=1, padding=0, dilation_patch=1)
        return corr.view(b, window * window, height, width).permute(0, 2, 3, 1)
    tile = _tile_width(width)
    padded_key, num_tiles = _pad_to_tiles(key, radius, tile)
    padded_query = F.pad(query, (0, 0, 0, num_tiles * tile - width))
    query_tiles = padded_query.view(b * height * num_tiles, tile, c)
    out = query.new_empty((b, height, num_tiles, tile, window, window))
    for dy in range(window):
        keys = _key_tiles(padded_key, dy, height, num_tiles, tile, radius)
        keys = keys.reshape(b * height * num_tiles, tile + 2 * radius, c)
        scores = torch.bmm(query_tiles, keys.transpose(1, 2))
        out[:, :, :, :, dy, :] = _band(scores, tile, radius).view(b, height, num_tiles, tile,
                                                                   window)
    out = out.view(b, height, num_tiles * tile, window * window)
    return out[:, :, :width]


def local_aggregate(weights: torch.Tensor, value: torch.Tensor, radius: int) -> torch.Tensor:
    """Weighted sum of the values in each query's window.

    Args:
        weights: (B, H, W, (2r+1)²) attention weights, window entries row-major.
        value: (B, H, W, C) channels-last values; outside the image they count as zero.
        radius: window radius r.

    Returns:
        (B, H, W, C).
    """
    b, height, width, c = value.shape
    window = 2 * radius + 1
    tile = _tile_width(width)
    padded_value, num_tiles = _pad_to_tiles(value, radius, tile)
    weights = F.pad(weights, (0, 0, 0, num_tiles * tile - width))
    weights = weights.view(b, height, num_tiles, tile, window, window)
    out = None
    for dy in range(window):
        band_matrix = weights.new_zeros((b * height * num_tiles, tile, tile + 2 * radius))
        _band(band_matrix, tile, radius).copy_(weights[:, :, :, :, dy, :].reshape(-1, tile, window))
        values = _key_tiles(padded_value, dy, height, num_tiles, tile, radius)
        values = values.reshape(b * height * num_tiles, tile + 2 * radius, c)
        if out is None:
            out = torch.bmm(band_matrix, values)
        elif torch.is_grad_enabled():
            out = torch.baddbmm(out, band_matrix, values)
        else:
            out.baddbmm_(band_matrix, values)
    assert out is not None
    out = out.view(b, height, num_tiles * tile, c)
    return out[:, :, :width]


def window_validity(height: int, width: int, radius: int, device: torch.device) -> torch.Tensor:
    """(H, W, (2r+1)²) bool: whether each window entry of each position lies inside the image."""
    window = 2 * radius + 1
    ys = torch.arange(height, device=device).view(height, 1, 1, 1)
    xs = torch.arange(width, device=device).view(1, width, 1, 1)
    offsets = torch.arange(window, device=device) - radius
    dy = offsets.view(1, 1, window, 1)
    dx = offsets.view(1, 1, 1, window)
    inside = ((ys + dy >= 0) & (ys + dy < height)) & ((xs + dx >= 0) & (xs + dx < width))
    return inside.reshape(height, width, window * window)


def masked_window_softmax(logits: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Softmax over the window entries, entries outside the image excluded.

    Args:
        logits: (B, H, W, N).
        valid: (H, W, N) bool from :func:`window_validity`.
    """
    return torch.softmax(logits.masked_fill(~valid, float("-inf")), dim=-1)
