"""Face tracks through a video, so no face slips through for a frame or two.

CenterFace sees each frame on its own; a face that scores 0.41 in one frame and
0.38 in the next, that turns, rolls with the phone or shrinks as the camera pulls
back, drops out for a few frames. Here detections become tracks, and every frame
gets a box for every live track:

- **Keyframes.** The full frame is searched on every k-th frame only (k = 1..``k_max``),
  on a copy scaled to ``det_long`` pixels. Between two keyframes boxes are
  interpolated when the track is confident (matched at both ends, moving as
  predicted, steady size); otherwise each frame in between is searched around the
  track (at most four such tracks per segment; in a crowd the rest get a mask over
  their whole way). k shrinks while many faces move unexpectedly and grows back.
- **Lost faces.** A track that the keyframe search misses is looked for around
  where it should be: upscaled (small faces) and in copies rotated by 45 and 90
  degrees (a phone turned sideways rolls faces past what CenterFace can see).
  Not found, its mask is held ``hold`` frames more, moving on and growing, then dropped.
- **A rolled camera.** When several strong faces vanish at once, the whole frame is
  also searched turned a quarter each way; the turn that finds them becomes the
  keyframe search angle until upright search finds the faces again.
- **New faces.** A face first seen on a keyframe is also masked (a little larger)
  on the frames since the previous keyframe: it may have been there, turning or
  entering.
- **Fast motion.** Interpolated masks grow by the distance the face moves per frame.
- **Scene cuts.** A jump in a small grey thumbnail ends the scene: the frame before
  the cut becomes a keyframe, tracks are not carried across, and the frame after it
  starts a new scene with a full search (rotated copies included).

The look-ahead is one segment (at most ``k_max`` frames), so memory stays bounded
for any length of video. This module only decides where boxes are; drawing and
encoding happen in ``faces/anonymize.py``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from storyteller.errors import CancelFn, Cancelled
from storyteller.pipeline.faces.boxes import FaceBox, centre_dist, grow, match, size
from storyteller.pipeline.faces.cuts import is_cut, thumb, thumb_diff
from storyteller.pipeline.faces.detect import EMPTY, FaceDetector, nms


@dataclass
class Track:
    id: int
    box: np.ndarray  # x1, y1, x2, y2 at ``seen``
    score: float
    seen: int  # last frame index where the face was actually found
    vel: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))  # per frame
    angle: int = 0  # roll at which it was last found (0 = upright search worked)
    misses: int = 0  # consecutive keyframes without a find


@dataclass(frozen=True)
class TrackerSettings:
    threshold: float = 0.3  # full-frame keyframe search
    region_threshold: float = 0.35  # searches around a track (fewer false finds in upscaled crops)
    k_max: int = 5  # at most this many frames between full searches
    det_long: int = 1280  # full-frame search on a copy at most this long (4K is scaled down)
    hold: int = 12  # frames a lost face keeps its mask
    rotated_every: int = 48  # also search rotated full frames this often (and at each scene start)
    min_face: float = 8.0  # ignore smaller finds (noise)


class FaceTracker:
    """Streams ``(index, frame, boxes)`` for every input frame, boxes from tracks.

    ``frames`` is any iterable of RGB uint8 arrays of one size. ``cancel()`` is
    polled once per segment. Statistics for the report are in ``self.stats``.
    """

    def __init__(self, detector: FaceDetector, settings: TrackerSettings = TrackerSettings(), cancel: CancelFn | None = None):
        self.det = detector
        self.s = settings
        self.cancel = cancel or (lambda: False)
        self.tracks: list[Track] = []
        self.next_id = 1
        self.stats = {"full_searches": 0, "region_searches": 0, "scene_cuts": 0, "keyframes": 0}
        self._scale = 1.0
        self._since_rotated = 0
        self.roll = 0  # degrees the whole picture seems turned (phone rolled); searches follow it
        self._roll_tried = -(10**9)

    # ------------------------------------------------------------ searches
    def _full(self, frame: np.ndarray, angles=(0,)) -> np.ndarray:
        """Whole-frame search in copies turned by each of ``angles``; (N, 6) boxes."""
        found = []
        for a in dict.fromkeys(angles):
            self.stats["full_searches"] += 1
            found.append(self.det.rotated(frame, a, self.s.threshold, self._scale))
        boxes = np.concatenate(found)
        return self._sane(nms(boxes) if len(boxes) > 1 else boxes)

    def _sane(self, boxes: np.ndarray) -> np.ndarray:
        if not len(boxes):
            return EMPTY
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        return boxes[(w >= self.s.min_face) & (h >= self.s.min_face)]

    def _region(self, frame: np.ndarray, box: np.ndarray, angles=(0,), spread: float = 2.4) -> np.ndarray | None:
        """Best face near ``box`` (centre within one face size), or None."""
        self.stats["region_searches"] += len(angles)
        area = grow(box, spread)
        found = self._sane(self.det.region(frame, area, size(box), self.s.region_threshold, angles))
        best, best_d = None, None
        for b in found:
            d = centre_dist(b, box)
            ratio = size(b) / max(1.0, size(box))
            if d < 1.0 * size(box) + 4 and 0.4 < ratio < 2.5 and (best_d is None or d < best_d):
                best, best_d = b, d
        return best

    @staticmethod
    def _angles(track: Track) -> tuple[int, ...]:
        if track.angle == 0:
            return (0, 90, -90, 45, -45)
        a = track.angle
        return tuple(dict.fromkeys((a, 0, max(-90, min(90, a - 45 * np.sign(a))), -a)))

    # ------------------------------------------------------------ main loop
    def run(self, frames: Iterable[np.ndarray]) -> Iterator[tuple[int, np.ndarray, list[FaceBox]]]:
        it = iter(frames)
        first = next(it, None)
        if first is None:
            return
        H, W = first.shape[:2]
        self._scale = min(1.0, self.s.det_long / max(H, W))
        k = self.s.k_max
        idx0, frame0, th0 = 0, first, thumb(first)
        yield idx0, frame0, self._start_scene(frame0, idx0)
        pending = None  # a read-ahead frame (index, frame, fingerprint) after a cut
        recent: deque[float] = deque(maxlen=12)
        done = False
        while not done:
            if self.cancel():
                raise Cancelled()
            seg: list[tuple[int, np.ndarray]] = []
            prev_th = th0
            cut_frame = None
            while len(seg) < k:
                if pending is not None:
                    nxt, pending = pending, None
                    cut_frame = nxt
                    break
                f = next(it, None)
                if f is None:
                    done = True
                    break
                i = idx0 + len(seg) + 1
                th = thumb(f)
                diff = thumb_diff(prev_th, th)
                cut = is_cut(diff, list(recent))
                if not cut:  # a cut's jump must not raise the bar for the next one
                    recent.append(diff[0])
                else:
                    if seg:
                        pending = (i, f, th)
                    else:
                        cut_frame = (i, f, th)
                    break
                seg.append((i, f))
                prev_th = th
            if seg:
                boxes, calm = self._segment(frame0, idx0, seg)
                k = min(self.s.k_max, k + 1) if calm else max(1, k // 2)
                for (i, f), b in zip(seg, boxes):
                    yield i, f, b
                idx0, frame0, th0 = seg[-1][0], seg[-1][1], prev_th
            if cut_frame is not None and pending is None:
                i, f, th = cut_frame
                self.stats["scene_cuts"] += 1
                self.tracks = []
                yield i, f, self._start_scene(f, i)
                idx0, frame0, th0 = i, f, th
                k = self.s.k_max

    def _start_scene(self, frame: np.ndarray, idx: int) -> list[FaceBox]:
        self.stats["keyframes"] += 1
        self._since_rotated = 0
        # A phone may be held sideways from the start: also search quarter-turned copies.
        dets = self._full(frame, (self.roll, 0, 90, -90))
        out = []
        for d in dets:
            t = Track(self.next_id, d[:4].copy(), float(d[4]), idx)
            self.next_id += 1
            self.tracks.append(t)
            out.append(FaceBox(*map(float, d[:5]), t.id, "detected"))
        return out

    def _segment(self, frame0: np.ndarray, idx0: int, seg: list[tuple[int, np.ndarray]]):
        """Boxes for each frame of ``seg`` (after keyframe ``idx0``); its last frame is the next keyframe."""
        n = len(seg)
        idx1, frame1 = seg[-1]
        H, W = frame1.shape[:2]
        self.stats["keyframes"] += 1
        self._since_rotated += n
        angles = [self.roll]
        if self.roll and self.stats["keyframes"] % 2 == 0:
            angles.append(0)  # is the camera upright again?
        if self._since_rotated >= self.s.rotated_every:
            self._since_rotated = 0
            angles += [90, -90]
        dets = self._full(frame1, angles)
        out: list[list[FaceBox]] = [[] for _ in range(n)]

        pred = np.array([t.box + t.vel * (idx1 - t.seen) for t in self.tracks], np.float32).reshape(-1, 4)
        pairs = dict(match(pred, dets))
        # Several strong faces gone at once: the camera rolled. Search the whole frame
        # turned further (45 and 90 degrees each way) and follow the roll that finds them.
        strong = [ti for ti, t in enumerate(self.tracks) if ti not in pairs and (t.score >= 0.45 or t.angle)]
        if len(strong) >= 2 and idx1 - self._roll_tried > 2 * self.s.k_max:
            self._roll_tried = idx1
            best = (0, None)
            # Quarter turns are exact and cost one upright search; 60-90 degree rolls show
            # up there within CenterFace's +-30 degrees. Smaller rolls: region searches below.
            for a in sorted({0, 90, -90} - {self.roll}, key=abs):
                more = self._full(frame1, (a,))
                if not len(more):
                    continue
                merged = nms(np.concatenate([dets, more]))
                p2 = dict(match(pred, merged))
                got = sum(ti in p2 for ti in strong)
                if got > best[0]:
                    best = (got, (a, merged, p2))
                if got >= 0.75 * len(strong):
                    break
            if best[1] is not None:
                a, dets, pairs = best[1]
                if best[0] >= max(2, len(strong) / 2):
                    self.roll = a
        if self.roll and len(dets):
            # Back to upright when the upright search finds as many of the tracks.
            at = dets[[d for d in pairs.values()], 5] if pairs else np.zeros(0)
            if (at == 0).sum() >= max(1, (at == self.roll).sum()):
                self.roll = 0
        found_at_end: dict[int, tuple[np.ndarray, float, str]] = {}
        for ti, t in enumerate(self.tracks):
            if ti in pairs:
                d = dets[pairs[ti]]
                found_at_end[ti] = (d[:4].copy(), float(d[4]), "rotated" if d[5] else "detected")
                t.angle = int(d[5])
                continue
            # Missed by the full search: look around where it should be, upscaled. A
            # strong face that vanished may be rolled (phone turned): also search
            # rotated copies, every other keyframe while it stays lost.
            b = self._region(frame1, pred[ti], (t.angle,))
            if b is None and t.misses % 2 == 0 and (t.score >= 0.5 or t.angle) and self._roll_tried != idx1:
                b = self._region(frame1, pred[ti], tuple(a for a in self._angles(t) if a != t.angle))
            if b is not None:
                found_at_end[ti] = (b[:4].copy(), float(b[4]), "rotated" if b[5] else "region")
                t.angle = int(b[5])
        used = set(pairs.values())

        survivors: list[Track] = []
        unsure_budget = 4
        surprised = 0
        for ti, t in enumerate(self.tracks):
            start_box = t.box + t.vel * (idx0 - t.seen)
            if ti in found_at_end:
                end_box, score, src = found_at_end[ti]
                motion = centre_dist(start_box, end_box) / max(1.0, size(end_box))
                # Smooth motion (a pan, a slow roll or zoom) is as well predicted as none:
                # what breaks interpolation is a change of speed, not speed.
                surprise = centre_dist(pred[ti], end_box) / max(1.0, size(end_box))
                ratio = size(end_box) / max(1.0, size(start_box))
                steady = (motion < 0.35 or surprise < 0.25) and 0.75 < ratio < 1.33
                # In a crowd, searching around every unsure face on every frame costs more than
                # it saves: then the mask covers the whole way the face may have gone instead.
                if steady and t.seen == idx0:
                    mode = "lerp"
                elif unsure_budget > 0:
                    mode, unsure_budget = "search", unsure_budget - 1
                else:
                    mode = "sweep"
                path = self._fill(seg, t, start_box, end_box, mode)
                surprised += surprise > 0.5
                step = (end_box - start_box) / max(1, n)
                pad = float(np.abs(step[:2] + step[2:]).max()) / 2 * 1.5
                for j, (box, s2) in enumerate(path):
                    b = grow(box, 1.0, pad) if s2 == "interpolated" else box
                    out[j].append(FaceBox(*map(float, b), score, t.id, s2 if j < n - 1 else src))
                t.vel = (end_box - t.box) / max(1, idx1 - t.seen) if t.seen == idx0 else step
                t.box, t.score, t.seen, t.misses = end_box, score, idx1, 0
                survivors.append(t)
                continue
            # Lost: search the frames in between, then hold the last box, growing.
            t.misses += 1
            for j, (i, _frame) in enumerate(seg):
                gone = i - t.seen
                if gone > self.s.hold:
                    break
                b = grow(t.box + t.vel * gone, 1.0 + 0.06 * gone, 2 + float(np.abs(t.vel).max()) * gone * 0.5)
                if b[2] <= 0 or b[3] <= 0 or b[0] >= W or b[1] >= H:
                    break
                out[j].append(FaceBox(*map(float, b), t.score * 0.5, t.id, "held"))
            if idx1 - t.seen <= self.s.hold:
                survivors.append(t)
        self.tracks = survivors

        # New faces: born on the keyframe; look back for them on the frames before.
        for di, d in enumerate(dets):
            if di in used:
                continue
            t = Track(self.next_id, d[:4].copy(), float(d[4]), idx1)
            self.next_id += 1
            out[n - 1].append(FaceBox(*map(float, d[:5]), t.id, "detected"))
            # It may have been there (turning, entering) on the frames since the last
            # keyframe: cover them all, a little larger, rather than search each.
            back = grow(d[:4], 1.25, 2)
            for j in range(n - 2, -1, -1):
                out[j].append(FaceBox(*map(float, back), t.score * 0.5, t.id, "lead"))
            self.tracks.append(t)
        # Search more often when the motion of many faces changed (one odd match in a crowd is not enough).
        calm = surprised <= max(0, len(found_at_end) // 4)
        return out, calm

    def _fill(self, seg, t: Track, start_box, end_box, mode: str):
        """Boxes for the frames between two finds of one track: ``lerp`` (interpolated),
        ``sweep`` (the box around the whole way from one find to the next) or ``search``
        (looked for around the interpolated box on each frame)."""
        n = len(seg)
        path = []
        for j in range(n):
            a = (j + 1) / n
            lerp = (1 - a) * start_box + a * end_box
            if j == n - 1:
                path.append((end_box, "detected"))
            elif mode == "sweep":
                u = np.concatenate([np.minimum(start_box[:2], end_box[:2]), np.maximum(start_box[2:], end_box[2:])])
                path.append((grow(u, 1.05), "interpolated"))
            elif mode == "lerp":
                path.append((lerp, "interpolated"))
            else:
                b = self._region(seg[j][1], lerp, (t.angle,) if t.angle else (0,))
                if b is None:
                    # Not found in between: cover the whole way the face may have gone.
                    prev = path[-1][0] if path else start_box
                    u = np.concatenate([np.minimum(prev[:2], lerp[:2]), np.maximum(prev[2:], lerp[2:])])
                    path.append((grow(u, 1.1), "interpolated"))
                else:
                    path.append((b[:4].copy(), "region"))
        return path
