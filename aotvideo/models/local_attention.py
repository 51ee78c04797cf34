"""Windowed (short-term) attention in O(HW * window²), without dense HW x HW matrices.

The short-term memory of AOT/DeAOT is read by attention restricted to a (2r+1)x(2r+1) window
around each query position (r = 7 for the published models).  The original code builds a dense
(HW)x(HW) attention matrix and fills the window entries into it.  Here the window is handled one
window row at a time: queries are cut into tiles of ``T`` columns, and each tile meets the
``T + 2r`` key columns of one window row in a small matrix product (batched over all tiles as a
strided view of the padded keys, without copies), from which the diagonal band that forms the
window is read.  The cost is ``HW * (2r+1) * (T+2r)`` multiply-adds per channel,
a few times the ideal ``HW * (2r+1)²`` and far below the dense ``(HW)²``.

Tensors are channels-last: ``(batch, height, width, channels)``, where "batch" is batch x heads.
Window entries are ordered row-major, ``index = dy * (2r+1) + dx`` with ``dy, dx`` in ``[0, 2r]``
(offset ``dy - r`` rows, ``dx - r`` columns), the order of ``torch.nn.functional.unfold`` and of
``spatial_correlation_sampler`` used by the original implementation.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

try:  # optional CUDA/C++ accelerator; never required
    from spatial_correlation_sampler import spatial_correlation_sample as _correlation_sample
except Exception:  # noqa: BLE001 - any import failure means "not available"
    _correlation_sample = None

_TILE = 8


def _layout(width: int, radius: int) -> tuple[int, int]:
    """Tile width ``T`` and padded row length ``Wp`` (a multiple of ``T`` with room for the
    window on both sides of every query tile)."""
    tile = min(width, _TILE)
    query_tiles = -(-width // tile)
    return tile, (query_tiles + -(-2 * radius // tile)) * tile


def _pad_rows(x: torch.Tensor, radius: int, row_length: int) -> torch.Tensor:
    """(B, H, W, C) -> zero-padded (B, H + 2r + 1, Wp, C), image at rows/cols offset by r.

    The extra bottom row keeps the last overlapping tile of the last row inside the storage.
    """
    b, h, w, c = x.shape
    padded = x.new_zeros((b, h + 2 * radius + 1, row_length, c))
    padded[:, radius:radius + h, radius:radius + w] = x
    return padded


def _row_tiles(padded: torch.Tensor, image: int, dy: int, height: int, tile: int,
               radius: int) -> torch.Tensor:
    """Overlapping key tiles of window row ``dy`` for every query tile of image ``image``.

    Query tile ``n = y * (Wp / T) + j`` covers query row ``y``, columns ``jT .. jT+T-1``; its
    keys are padded row ``y + dy``, columns ``jT .. jT+T+2r-1``.  Because ``Wp`` is a multiple
    of ``T`` these tiles start every ``T`` positions of the flattened rows, so the result is a
    plain strided view (N, T + 2r, C) that ``bmm`` reads without a copy.
    """
    _, rows, row_length, c = padded.shape
    base = padded[image]
    return base.as_strided((height * row_length // tile, tile + 2 * radius, c), (tile * c, c, 1),
                           base.storage_offset() + dy * row_length * c)


def _band(matrix: torch.Tensor, tile: int, radius: int) -> torch.Tensor:
    """The window band of tile products: (N, T, T + 2r) -> view (N, T, 2r + 1) with
    ``[n, t, dx] = matrix[n, t, t + dx]``."""
    n, rows, cols = matrix.shape
    return matrix.as_strided((n, rows, 2 * radius + 1), (matrix.stride(0), cols + 1, 1),
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
    if b > 1:
        packed = _local_logits(_side_by_side(query, radius), _side_by_side(key, radius), radius)
        return _unpack(packed, b, width)
    return _local_logits(query, key, radius)


def _local_logits(query: torch.Tensor, key: torch.Tensor, radius: int) -> torch.Tensor:
    """:func:`local_logits` by window-row tile products, one image after another."""
    b, height, width, c = query.shape
    window = 2 * radius + 1
    tile, row_length = _layout(width, radius)
    padded_key = _pad_rows(key, radius, row_length)
    query = F.pad(query, (0, 0, 0, row_length - width))
    num = height * row_length // tile
    images = []
    for image in range(b):
        query_tiles = query[image].reshape(num, tile, c)
        out = query.new_empty((num, tile, window, window))
        for dy in range(window):
            keys = _row_tiles(padded_key, image, dy, height, tile, radius)
            out[:, :, dy, :] = _band(torch.bmm(query_tiles, keys.transpose(1, 2)), tile, radius)
        images.append(out.view(height, row_length, window * window)[:, :width])
    return torch.stack(images)


def local_aggregate(weights: torch.Tensor, value: torch.Tensor, radius: int) -> torch.Tensor:
    """Weighted sum of the values in each query's window.

    Args:
        weights: (B, H, W, (2r+1)²) attention weights, window entries row-major.
        value: (B, H, W, C) channels-last values; outside the image they count as zero.
        radius: window radius r.

    Returns:
        (B, H, W, C).
    """
    b, width = value.shape[0], value.shape[2]
    if b > 1:
        packed = _local_aggregate(_side_by_side(weights, radius), _side_by_side(value, radius),
                                  radius)
        return _unpack(packed, b, width)
    return _local_aggregate(weights, value, radius)


def _local_aggregate(weights: torch.Tensor, value: torch.Tensor, radius: int) -> torch.Tensor:
    """:func:`local_aggregate` by window-row tile products, one image after another."""
    b, height, width, c = value.shape
    window = 2 * radius + 1
    tile, row_length = _layout(width, radius)
    padded_value = _pad_rows(value, radius, row_length)
    weights = F.pad(weights, (0, 0, 0, row_length - width))
    num = height * row_length // tile
    grad = torch.is_grad_enabled()
    images = []
    for image in range(b):
        rows = weights[image].reshape(num, tile, window, window)
        out = None
        for dy in range(window):
            band_matrix = value.new_zeros((num, tile, tile + 2 * radius))
            _band(band_matrix, tile, radius).copy_(rows[:, :, dy, :])
            values = _row_tiles(padded_value, image, dy, height, tile, radius)
            if out is None:
                out = torch.bmm(band_matrix, values)
            elif grad:
                out = torch.baddbmm(out, band_matrix, values)
            else:
                out.baddbmm_(band_matrix, values)
        assert out is not None
        images.append(out.view(height, row_length, c)[:, :width])
    return torch.stack(images)


def _side_by_side(x: torch.Tensor, radius: int) -> torch.Tensor:
    """(B, H, W, C) -> (1, H, B * (W + r), C): the images in a row, each followed by ``r`` zero
    columns.  A window never reaches from one image into the next (the gap is zero keys and
    values, and :func:`window_validity` of the single image excludes it from the softmax), so
    the tile products of all images run as one batch instead of one small batch per image."""
    b, height, width, c = x.shape
    gapped = F.pad(x, (0, 0, 0, radius))
    return gapped.permute(1, 0, 2, 3).reshape(1, height, b * (width + radius), c)


def _unpack(x: torch.Tensor, batch: int, width: int) -> torch.Tensor:
    """Inverse of :func:`_side_by_side` for a result (1, H, B * (W + r), N) -> (B, H, W, N)."""
    _, height, total, n = x.shape
    return x.view(height, batch, total // batch, n)[:, :, :width].permute(1, 0, 2, 3)


@functools.lru_cache(maxsize=32)
def window_validity(height: int, width: int, radius: int, device: torch.device) -> torch.Tensor:
    """(H, W, (2r+1)²) bool: whether each window entry of each position lies inside the image.

    Cached per size and device (a constant of the frame size; callers must not modify it)."""
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
