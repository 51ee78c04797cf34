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


def _span(images: int, width: int, radius: int) -> int:
    """Width of the row holding ``images`` images side by side (see :func:`_lay_out`)."""
    return width if images == 1 else images * (width + radius)


def _lay_out(x: torch.Tensor, radius: int, row_length: int, *, keys: bool) -> torch.Tensor:
    """(B, H, W, C) -> one zero-filled picture (rows, Wp, C) holding the B images side by side.

    Image ``i`` starts at column ``i * (W + r)``, so ``r`` zero columns separate neighbours: a
    window never reaches from one image into the next (the gap holds zero keys and values, and
    :func:`window_validity` of the single image excludes it from the softmax), and the tile
    products of all images (batch x heads) run as one batch instead of one small batch each.
    Queries and weights keep the image rows (``rows = H``); keys and values (``keys``) are
    shifted by ``r`` rows and columns, with ``r`` zero rows above and ``r + 1`` below (the extra
    row keeps the last overlapping tile of the last row inside the storage).
    """
    b, h, w, c = x.shape
    offset = radius if keys else 0
    rows = h + 2 * radius + 1 if keys else h
    picture = x.new_zeros((rows, row_length, c))
    span = _span(b, w, radius)
    step = span // b
    target = picture[offset:offset + h, offset:offset + b * step].view(h, b, step, c)
    target[:, :, :w] = x.permute(1, 0, 2, 3)
    return picture


def _unpack(x: torch.Tensor, images: int, width: int, radius: int) -> torch.Tensor:
    """A result (H, Wp, N) laid out like :func:`_lay_out`'s queries -> (B, H, W, N) view."""
    height, _, n = x.shape
    step = _span(images, width, radius) // images
    return x[:, :images * step].view(height, images, step, n)[:, :, :width].permute(1, 0, 2, 3)


def _row_tiles(padded: torch.Tensor, dy: int, height: int, tile: int,
               radius: int) -> torch.Tensor:
    """Overlapping key tiles of window row ``dy`` for every query tile.

    Query tile ``n = y * (Wp / T) + j`` covers query row ``y``, columns ``jT .. jT+T-1``; its
    keys are padded row ``y + dy``, columns ``jT .. jT+T+2r-1``.  Because ``Wp`` is a multiple
    of ``T`` these tiles start every ``T`` positions of the flattened rows, so the result is a
    plain strided view (N, T + 2r, C) of ``padded`` (rows, Wp, C) that ``bmm`` reads without a
    copy.
    """
    _, row_length, c = padded.shape
    return padded.as_strided((height * row_length // tile, tile + 2 * radius, c),
                             (tile * c, c, 1), padded.storage_offset() + dy * row_length * c)


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
    tile, row_length = _layout(_span(b, width, radius), radius)
    queries = _lay_out(query, radius, row_length, keys=False)
    padded_key = _lay_out(key, radius, row_length, keys=True)
    num = height * row_length // tile
    query_tiles = queries.view(num, tile, c)
    out = query.new_empty((num, tile, window, window))
    for dy in range(window):
        keys = _row_tiles(padded_key, dy, height, tile, radius)
        out[:, :, dy, :] = _band(torch.bmm(query_tiles, keys.transpose(1, 2)), tile, radius)
    return _unpack(out.view(height, row_length, window * window), b, width, radius)


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
    tile, row_length = _layout(_span(b, width, radius), radius)
    rows = _lay_out(weights, radius, row_length, keys=False)
    padded_value = _lay_out(value, radius, row_length, keys=True)
    num = height * row_length // tile
    rows = rows.view(num, tile, window, window)
    grad = torch.is_grad_enabled()
    band_matrix = None
    out = None
    for dy in range(window):
        if band_matrix is None or grad:  # reused without gradients: only the band changes
            band_matrix = value.new_zeros((num, tile, tile + 2 * radius))
        _band(band_matrix, tile, radius).copy_(rows[:, :, dy, :])
        values = _row_tiles(padded_value, dy, height, tile, radius)
        if out is None:
            out = torch.bmm(band_matrix, values)
        elif grad:
            out = torch.baddbmm(out, band_matrix, values)
        else:
            out.baddbmm_(band_matrix, values)
    assert out is not None
    return _unpack(out.view(height, row_length, c), b, width, radius)


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
