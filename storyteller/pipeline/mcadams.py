"""McAdams voice disguise: move the LPC formant poles' angles, keep the residual.

This is the VoicePrivacy Challenge baseline (20 ms frames, 10 ms hop, LPC order
20, sqrt-Hann analysis and synthesis windows): each frame's complex LPC poles at
angle phi move to phi ** alpha, the excitation (residual) is kept, so pitch and
timing survive while the formants move. The frame loop is vectorised: LPC by a
batched Toeplitz solve, poles by batched eigenvalues of companion matrices, and
the two filters by FFT convolution of short frames.
"""

from __future__ import annotations

import numpy as np

ORDER = 20


def _frames(x: np.ndarray, win: int, hop: int) -> np.ndarray:
    n = 1 + max(0, (len(x) - win)) // hop
    idx = np.arange(win)[None, :] + hop * np.arange(n)[:, None]
    return x[idx]


def _lpc_batch(frames: np.ndarray, order: int) -> np.ndarray:
    """LPC coefficients a (a[:,0] = 1) for every frame, autocorrelation method."""
    nfft = 1 << int(np.ceil(np.log2(2 * frames.shape[1])))
    spec = np.fft.rfft(frames, nfft)
    r = np.fft.irfft(np.abs(spec) ** 2, nfft)[:, : order + 1]
    r[:, 0] *= 1.0 + 1e-6  # white-noise floor keeps silent frames solvable
    r[:, 0] += 1e-9
    idx = np.abs(np.arange(order)[:, None] - np.arange(order)[None, :])
    toeplitz = r[:, idx]
    coef = np.linalg.solve(toeplitz, -r[:, 1 : order + 1, None])[..., 0]
    return np.concatenate([np.ones((len(frames), 1)), coef], axis=1)


def _warp_poles(a: np.ndarray, alpha: float) -> np.ndarray:
    """Move each complex pole's angle phi to phi**alpha; real poles stay."""
    order = a.shape[1] - 1
    comp = np.zeros((len(a), order, order))
    comp[:, 0, :] = -a[:, 1:]
    comp[:, np.arange(1, order), np.arange(order - 1)] = 1.0
    poles = np.linalg.eigvals(comp)
    ang = np.angle(poles)
    mag = np.minimum(np.abs(poles), 0.999)  # keep the new filter stable
    cplx = np.abs(np.imag(poles)) > 1e-8
    new_ang = np.where(cplx, np.sign(ang) * np.clip(np.abs(ang), 0, np.pi) ** alpha, ang)
    new_ang = np.clip(new_ang, -np.pi, np.pi)
    new_poles = mag * np.exp(1j * new_ang)
    # np.poly per frame is cheap (order 20); batched via repeated convolution
    out = np.ones((len(a), 1), dtype=complex)
    for k in range(order):
        out = np.concatenate([out, np.zeros((len(a), 1))], axis=1) - np.concatenate(
            [np.zeros((len(a), 1)), out * new_poles[:, k : k + 1]], axis=1
        )
    return np.real(out)


def _fir_batch(frames: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Each frame filtered by its own FIR ``a`` (zero initial state, output cut to the frame)."""
    win = frames.shape[1]
    nfft = 1 << int(np.ceil(np.log2(win + a.shape[1])))
    return np.fft.irfft(np.fft.rfft(frames, nfft) * np.fft.rfft(a, nfft), nfft)[:, :win]


def _allpole_batch(x: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Each frame through its own all-pole filter 1/B(z), b[:, 0] == 1, all frames at once.

    The recursion runs over the frame's samples with numpy across frames, which
    is far cheaper than one scipy call per frame.
    """
    frames, win = x.shape
    order = b.shape[1] - 1
    y = np.zeros((frames, win + order))
    coef = b[:, :0:-1]  # b[order], ..., b[1]: aligned with y[n-order .. n-1]
    for n in range(win):
        y[:, n + order] = x[:, n] - np.einsum("ij,ij->i", coef, y[:, n : n + order])
    return y[:, order:]


def mcadams(x: np.ndarray, sr: int, alpha: float, order: int = ORDER) -> np.ndarray:
    """Return ``x`` with its formants moved by the McAdams coefficient ``alpha``.

    Same length as the input; loudness is matched to the input's RMS.
    """
    x = np.asarray(x, dtype=np.float64)
    win = int(0.020 * sr)
    hop = int(0.010 * sr)
    if len(x) < win:
        return x.astype(np.float32)
    pad = np.concatenate([np.zeros(win), x, np.zeros(win)])
    w = np.hanning(win)
    w = np.sqrt(w / (w.sum() / hop))  # sqrt-Hann, applied twice sums to 1 at 10 ms hop
    frames = _frames(pad, win, hop) * w
    a = _lpc_batch(frames + 1e-9, order)
    b = _warp_poles(a, alpha)
    res = _fir_batch(frames, a)
    rec = _allpole_batch(res, b) * w
    out = np.zeros(len(pad) + win)
    for m in range(len(frames)):  # overlap-add; cheap next to the filters
        out[m * hop : m * hop + win] += rec[m]
    y = out[win : win + len(x)]
    rms_in = np.sqrt(np.mean(x**2) + 1e-12)
    rms_out = np.sqrt(np.mean(y**2) + 1e-12)
    return (y * (rms_in / rms_out)).astype(np.float32)
