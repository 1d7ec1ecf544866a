"""Long takes processed block by block with overlap-add, so memory stays bounded and block edges do not click."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

XFADE_SECONDS = 0.04  # raised-cosine crossfade where two blocks meet


def with_context(blocks: Iterable[np.ndarray], pad: int) -> Iterator[tuple[np.ndarray, int, int]]:
    """Yield (window, left, n): each block with up to ``pad`` samples of its neighbours.

    A last block shorter than 2*pad is merged into the one before, so every
    seam has full context and a full crossfade.
    """
    it = iter(blocks)
    cur = next(it, None)
    prev = np.zeros(0, np.float32)
    nxt = next(it, None)
    while cur is not None:
        after = next(it, None) if nxt is not None else None
        if nxt is not None and after is None and len(nxt) < 2 * pad:
            cur, nxt = np.concatenate([cur, nxt]), None
        left = prev[-pad:] if len(prev) else prev
        right = nxt[:pad] if nxt is not None else np.zeros(0, np.float32)
        yield np.concatenate([left, cur, right]), len(left), len(cur)
        prev, cur, nxt = cur, nxt, after


def stream_process(
    blocks: Iterable[np.ndarray], fn: Callable[[np.ndarray], np.ndarray], sr: int, pad_seconds: float, workers: int = 2
) -> Iterator[np.ndarray]:
    """Apply ``fn`` block by block with overlap-add crossfades; yields output pieces.

    The concatenated output has exactly the input's length. Each block is processed with ``pad_seconds`` of its neighbours
    on each side (so its edges are processed like its middle). ``workers`` blocks
    are processed at once (WORLD releases the GIL, so ``pitch`` uses two cores); at
    most ``workers + 1`` blocks are held in memory. ``fn`` must depend only on
    its window, so the result does not depend on the thread timing.
    """
    pad = int(pad_seconds * sr)
    h = int(XFADE_SECONDS * sr) // 2
    fade = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, 2 * h, dtype=np.float32))
    pending = None  # previous block's output over [seam - h, seam + h]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        queue: deque = deque()

        def drain(limit: int) -> Iterator[np.ndarray]:
            nonlocal pending
            while len(queue) > limit:
                fut, window_len, left, n = queue.popleft()
                out = fut.result()
                right = window_len - left - n
                hl = h if pending is not None else 0
                hr = h if right >= h else 0
                seg = out[left - hl : left + n + hr]
                if pending is not None:
                    yield pending * (1 - fade) + seg[: 2 * h] * fade
                    seg = seg[2 * h :]
                if hr:
                    pending = seg[-2 * h :]
                    seg = seg[: -2 * h]
                else:
                    pending = None
                yield seg

        for window, left, n in with_context(blocks, pad):
            queue.append((pool.submit(fn, window), len(window), left, n))
            yield from drain(max(1, workers) - 1)
        yield from drain(0)
    if pending is not None:  # the input ended exactly at a seam; keep its samples
        yield pending[:h]


def soft_limit(y: np.ndarray) -> np.ndarray:
    """Keep peaks under full scale without hard clipping (a gentle knee above 0.9)."""
    a = np.abs(y)
    over = a > 0.9
    if not over.any():
        return y
    y = y.copy()
    y[over] = np.sign(y[over]) * (0.9 + 0.1 * np.tanh((a[over] - 0.9) / 0.1))
    return y
