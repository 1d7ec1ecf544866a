"""What a face pass returns and takes back: the boxes per frame, the check's findings, the corrections by hand."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from storyteller.errors import UserError
from storyteller.pipeline.faces.boxes import FaceBox

CHECK_THRESHOLD = 0.2
BLUR_WARNING = "Blur can be partly reversed; use a solid or mosaic mask for anything shared."


class FaceError(UserError):
    """The input or the options cannot be used; the message says why in plain words."""


class FacesRemainError(UserError):
    """The post-check still sees faces in the output; a person must review it."""


@dataclass(frozen=True)
class FrameFaces:
    """Everything masked on one frame; ``review`` names why a person should look, if so."""

    index: int
    time: float
    boxes: tuple[FaceBox, ...]
    review: str | None = None


@dataclass(frozen=True)
class CheckHit:
    """A face the post-check found in the masked output."""

    index: int
    box: tuple[float, float, float, float]
    score: float
    action: str  # "covered" (solid fill added) or "left: removed by hand"


@dataclass(frozen=True)
class ManualBox:
    """A region drawn by a person: ``frame`` (0 for photos) to ``until`` (None = as long as it can be tracked)."""

    box: tuple[float, float, float, float]
    frame: int = 0
    until: int | None = None


@dataclass(frozen=True)
class Edits:
    """Corrections by hand. ``add`` boxes are always masked; ``remove`` regions drop detections inside them."""

    add: tuple[ManualBox, ...] = ()
    remove: tuple[ManualBox, ...] = ()


@dataclass(frozen=True)
class FaceResult:
    input_name: str
    output: str
    kind: str  # "photo" or "video"
    width: int
    height: int
    fps: float | None
    mask: str
    frames: tuple[FrameFaces, ...]
    review_order: tuple[int, ...]  # frame indices a person should look at, most doubtful first
    check_hits: tuple[CheckHit, ...]
    edits: Edits
    reviewed: bool
    whole_frame: str | None
    audio: str  # "none", "dropped", "disguised"
    warnings: tuple[str, ...]
    seconds: float
    stats: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def face_count(self) -> int:
        return len({(f.index if self.kind == "photo" else 0, b.track) for f in self.frames for b in f.boxes})

    def to_dict(self) -> dict:
        d = asdict(self)
        d["edits"] = edits_to_dict(self.edits)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)


def edits_to_dict(e: Edits) -> dict:
    f = lambda m: {k: v for k, v in {"box": list(m.box), "frame": m.frame, "until": m.until}.items() if v is not None}  # noqa: E731
    return {"add": [f(m) for m in e.add], "remove": [f(m) for m in e.remove]}
