"""Detector stage: an image -> plates and house numbers as :class:`Detection`.

The image is letterboxed into the model input with :func:`edgeocr.core.letterbox.letterbox`
(aspect kept, centred, black bars; the detector trainer uses the same function), the
int8 SSD-lite runs once, and its per-anchor class scores, box offsets and corner offsets
are decoded with the anchor layout from the sidecar, thresholded, suppressed class by
class and mapped back to pixels of the given image.

A frame much larger than the model input loses small plates in the letterbox (a plate 110
px wide in a 1600 px photo is 22 px at 320). ``tiles`` then also runs the model on a 2x2
grid of overlapping tiles and merges everything with the same suppression; by default
(``tiles=None``) only frames whose long side is at least ``AUTO_TILE_FACTOR`` times the
input's are tiled, so a 640x480 camera stream keeps its one invoke per frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np
import numpy.typing as npt

from edgeocr.core.anchors import decode, generate_anchors, nms
from edgeocr.core.charset import softmax
from edgeocr.core.geometry import (
    box_area,
    covered,
    intersection,
    iou,
    offset_detection,
    order_corners,
)
from edgeocr.core.letterbox import letterbox
from edgeocr.core.sidecar import SidecarError
from edgeocr.core.types import Box, Delegate, Detection, Image
from edgeocr.runtime import TFLiteModel, load_role_model

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = MODELS_DIR / "detector.tflite"
ROLES = ("classes", "boxes", "corners")
MAX_CANDIDATES = 300
"""Best-scoring (anchor, class) pairs kept before NMS; bounds the NMS cost on noisy frames."""


def _as_colour(image: npt.NDArray[Any], channels: int, rgb: bool) -> Image:
    """8-bit image in the model's colour order: grey/BGR/BGRA, uint8 or uint16 in."""
    img: npt.NDArray[Any] = image
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ValueError(f"image must be uint8 or uint16, got {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        code = None if channels == 1 else cv2.COLOR_GRAY2RGB
    elif img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"image must be grey, BGR or BGRA, got shape {img.shape}")
    elif channels == 1:
        code = cv2.COLOR_BGR2GRAY if img.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
    elif rgb:
        code = cv2.COLOR_BGR2RGB if img.shape[2] == 3 else cv2.COLOR_BGRA2RGB
    else:
        code = None if img.shape[2] == 3 else cv2.COLOR_BGRA2BGR
    out: npt.NDArray[Any] = img if code is None else cv2.cvtColor(img, code)
    return out.astype(np.uint8, copy=False)


AUTO_TILE_FACTOR = 3.0
"""Frames with a long side of at least this many model inputs are tiled (tiles=None)."""
TILE_OVERLAP = 0.25
"""Fraction of a tile shared with its neighbour: objects up to this size appear whole in
some tile."""
TILE_EDGE_MARGIN = 0.025
"""A tile's box ending within this fraction of the tile's side (8 px of a 320 px input)
of an inner tile edge is a piece of an object cut by that edge. A box regressed from a cut
object stops a few input pixels short of the edge, not on it; a whole object that close to
an inner edge is whole in the neighbouring tile (tiles share TILE_OVERLAP) or the frame."""
NESTED = 0.8
"""After tiling, a box with this share of its area inside a better box of its class is the
same object seen at another scale."""
DEFAULT_SCORE = 0.5
"""Score threshold for a model whose sidecar does not name one."""
CROSS_CLASS_IOU = 0.7
"""Detections of different classes overlapping this much are one object: the best stays."""
ZOOM_SIDE = 1.25
"""Side of the square window :meth:`Detector.zoom` looks in, in widths of the detection's
box (or in twice its height, for a box less than twice as wide as tall): the object fills
about 80% of the window's width, within the close-up sizes the detector trains on."""
ZOOM_MATCH_IOU = 0.5
"""A zoomed detection must overlap the original box this much to replace its geometry: the
usual criterion for two boxes of one object. The window can also hold a piece of the
object ("22" of "2202" on a wall) that overlaps it less."""
ZOOM_FLOOR = 0.1
"""Score down to which the zoom pass looks for its match. In the window a real plate
scores higher than in the frame (dev photos: median 0.84 against 0.59), and a lower floor
mostly adds boxes to suppress (at 0.02 suppression made a zoom cost two detector runs)."""
ZOOM_MIN_SIDE = 24
"""Zoom windows are at least this many pixels a side."""


def zoom_window(box: Box, width: int, height: int,
                side: float = ZOOM_SIDE) -> tuple[int, int, int, int]:
    """The square (x0, y0, x1, y1) window around ``box`` that :meth:`Detector.zoom` looks
    in, shifted (not shrunk) to stay inside a ``width`` x ``height`` frame where it can."""
    x1, y1, x2, y2 = box
    s = max(side * (x2 - x1), 2 * side * (y2 - y1), ZOOM_MIN_SIDE)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    x0 = round(min(max(cx - s / 2, 0.0), max(width - s, 0.0)))
    y0 = round(min(max(cy - s / 2, 0.0), max(height - s, 0.0)))
    return x0, y0, min(width, round(x0 + s)), min(height, round(y0 + s))


def tile_boxes(width: int, height: int, grid: int,
               overlap: float) -> list[tuple[int, int, int, int]]:
    """``grid`` x ``grid`` tiles (x0, y0, x1, y1) covering the frame, neighbours sharing
    ``overlap`` of a tile."""
    tw = width / (grid - (grid - 1) * overlap)
    th = height / (grid - (grid - 1) * overlap)
    out = []
    for r in range(grid):
        for c in range(grid):
            x0, y0 = round(c * tw * (1 - overlap)), round(r * th * (1 - overlap))
            out.append((x0, y0, min(width, round(x0 + tw)), min(height, round(y0 + th))))
    return out


PIECE_OVERLAP = 0.3
"""Two pieces from different tiles are one object when they share this much of the
smaller one's area (both hold the tiles' overlap band)..."""
PIECE_GROWTH = 1.05
"""... and their union is this much larger than the larger piece: two tiles that both see
the same thing cut inside their shared band (identical boxes) have not found the two ends
of a bigger object."""
WHOLE_IOU = 0.3
"""A piece (or pieces joined) overlapping a whole detection of its kind this much (IoU; a
third of a plate against the whole plate is about 0.33), or lying inside it (``NESTED``
of its area), is that object seen whole."""
LEND_IOU = 0.5
"""Pieces lend their score to the whole box only when they match it this well (IoU): a
fragment inside a larger box says little about that box."""


def _join(a: Detection, b: Detection) -> Detection:
    """One detection from two pieces of an object: the union box, the left corners from the
    piece reaching further left and the right ones from the other (top and bottom for
    pieces stacked vertically)."""
    box = (min(a.box[0], b.box[0]), min(a.box[1], b.box[1]),
           max(a.box[2], b.box[2]), max(a.box[3], b.box[3]))
    grow_x = (box[2] - box[0]) - max(a.box[2] - a.box[0], b.box[2] - b.box[0])
    grow_y = (box[3] - box[1]) - max(a.box[3] - a.box[1], b.box[3] - b.box[1])
    if grow_x >= grow_y:
        left, right = (a, b) if a.box[0] <= b.box[0] else (b, a)
        corners = (left.corners[0], right.corners[1], right.corners[2], left.corners[3])
    else:
        top, bottom = (a, b) if a.box[1] <= b.box[1] else (b, a)
        corners = (top.corners[0], top.corners[1], bottom.corners[2], bottom.corners[3])
    return Detection(a.kind, max(a.score, b.score), box, corners)


def _assemble(pieces: list[tuple[Detection, int]], whole: list[Detection]) -> list[Detection]:
    """``whole`` plus the objects cut by inner tile edges, from their pieces (detection,
    tile index). Pieces of one kind from different tiles that overlap are joined. Joined
    pieces overlapping a whole detection of their kind (the frame pass, or a tile that saw
    the object whole) are that object: the best-overlapping whole box stays, with the
    better of the two scores when they match it well (``LEND_IOU``). Pieces joined across
    tiles with no such whole box are kept as one object; a lone piece without one is
    dropped (one tile saw part of something that neither the frame nor the neighbouring
    tile found)."""
    joined: list[tuple[Detection, set[int]]] = []
    for d, t in sorted(pieces, key=lambda p: -p[0].score):
        for k, (m, tiles) in enumerate(joined):
            small = min(box_area(m.box), box_area(d.box))
            if (m.kind != d.kind or t in tiles or small <= 0
                    or intersection(m.box, d.box) < PIECE_OVERLAP * small):
                continue
            union = _join(m, d)
            if box_area(union.box) >= PIECE_GROWTH * max(box_area(m.box), box_area(d.box)):
                joined[k] = (union, tiles | {t})
                break
        else:
            joined.append((d, {t}))
    out = list(whole)
    for m, tiles in joined:
        overlaps = [(iou(m.box, w.box), i) for i, w in enumerate(out) if w.kind == m.kind]
        homes = [(o, i) for o, i in overlaps
                 if o >= WHOLE_IOU or covered(m.box, out[i].box) >= NESTED]
        if not homes:
            if len(tiles) > 1:
                out.append(m)
            continue
        overlap, i = max(homes)
        if m.score > out[i].score and overlap >= LEND_IOU:
            out[i] = Detection(out[i].kind, m.score, out[i].box, out[i].corners)
    return out


class Detector:
    """Finds plates and house numbers with an int8 SSD-lite described by its sidecar."""

    def __init__(self, model: Path | None = None, delegate: Delegate = "cpu", threads: int = 0,
                 score_threshold: float | None = None, iou_threshold: float = 0.45,
                 max_detections: int = 50, tiles: int | None = None) -> None:
        self.model: TFLiteModel = load_role_model(model, "detector", DEFAULT_MODEL, delegate,
                                                   threads)
        path = self.model.path
        sc = self.model.sidecar
        if sc.detector is None:
            raise SidecarError(f"{path}: sidecar has no 'detector' section")
        spec = sc.detector
        self.path = path
        self.class_names = spec.class_names
        self.output_is_logits = spec.output_is_logits
        self.operating_threshold = (spec.score_threshold if spec.score_threshold is not None
                                    else DEFAULT_SCORE)
        """The model's own operating threshold (its sidecar's, else 0.5)."""
        self.score_threshold = (score_threshold if score_threshold is not None
                                else self.operating_threshold)
        self.iou_threshold = iou_threshold
        self.max_detections = max_detections
        if tiles is not None and tiles not in (1, 2):
            raise ValueError(f"tiles must be 1 (off), 2 (2x2) or None (auto), got {tiles}")
        self.tiles = tiles
        self._h, self._w, self._c = sc.input.height, sc.input.width, sc.input.channels
        self._rgb = sc.input.colour == "rgb"
        lo, hi = sc.input.range
        self._range = (float(lo), float(hi))
        if (spec.anchors.input_height, spec.anchors.input_width) != (self._h, self._w):
            raise SidecarError(
                f"{path}: anchors are for {spec.anchors.input_width}x"
                f"{spec.anchors.input_height} but the input is {self._w}x{self._h}"
            )
        self.anchors = generate_anchors(spec.anchors)
        self.variances = spec.anchors.variances
        self._names = self._output_roles(path, spec.outputs)
        n = len(self.anchors)
        want = {"classes": 1 + len(self.class_names), "boxes": 4, "corners": 8}
        for role, name in self._names.items():
            shape = self.model.output_shape(name)
            if shape != (1, n, want[role]):
                raise SidecarError(
                    f"{path}: output {name!r} ({role}) has shape {shape}, expected "
                    f"{(1, n, want[role])} for {n} anchors"
                )

    def _output_roles(self, path: Path, declared: dict[str, str]) -> dict[str, str]:
        """role -> output name, from the sidecar's name->role map, names, or last dims."""
        names = self.model.output_names
        roles = {role: name for name, role in declared.items() if name in names}
        for role in ROLES:
            if role not in roles and role in names:
                roles[role] = role
        dims = {"classes": 1 + len(self.class_names), "boxes": 4, "corners": 8}
        for role in ROLES:
            if role in roles:
                continue
            hits = [n for n in names if self.model.output_shape(n)[-1] == dims[role]
                    and n not in roles.values()]
            if len(hits) != 1 or list(dims.values()).count(dims[role]) != 1:
                raise SidecarError(
                    f"{path}: cannot tell which output holds the {role}; name the outputs "
                    f"'classes', 'boxes', 'corners' or map them in detector.outputs"
                )
            roles[role] = hits[0]
        return roles

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) of the network input."""
        return self._w, self._h

    def grid_for(self, width: int, height: int) -> int:
        """1 (whole frame only) or 2 (also a 2x2 grid of tiles) for a frame of this size."""
        if self.tiles is not None:
            return self.tiles
        return 2 if max(width, height) >= AUTO_TILE_FACTOR * max(self._w, self._h) else 1

    def detect(self, image: npt.NDArray[Any], grid: int | None = None) -> list[Detection]:
        """Detections in pixels of ``image`` (grey, BGR or BGRA; uint8 or uint16), best first.
        ``grid`` overrides :meth:`grid_for` (a caller that downscaled a big frame decides
        from the original size)."""
        if not isinstance(image, np.ndarray) or image.size == 0 or image.ndim not in (2, 3):
            raise ValueError("image is empty or not an image array")
        height, width = image.shape[:2]
        found = self._detect_once(image)
        if (grid if grid is not None else self.grid_for(width, height)) == 1:
            return found
        pieces: list[tuple[Detection, int]] = []
        for t, (x0, y0, x1, y1) in enumerate(tile_boxes(width, height, 2, TILE_OVERLAP)):
            mx = max(1.0, TILE_EDGE_MARGIN * (x1 - x0))
            my = max(1.0, TILE_EDGE_MARGIN * (y1 - y0))
            for d in self._detect_once(image[y0:y1, x0:x1]):
                bx1, by1, bx2, by2 = d.box
                shifted = offset_detection(d, x0, y0)
                # A box reaching an inner tile edge is a piece of an object the edge cuts.
                if ((x0 > 0 and bx1 <= mx) or (y0 > 0 and by1 <= my)
                        or (x1 < width and bx2 >= x1 - x0 - mx)
                        or (y1 < height and by2 >= y1 - y0 - my)):
                    pieces.append((shifted, t))
                else:
                    found.append(shifted)
        return self._suppress(_assemble(pieces, found))

    def zoom(self, image: npt.NDArray[Any], det: Detection) -> Detection | None:
        """``det`` (in pixels of ``image``) re-detected in a window around it
        (:func:`zoom_window`), or None when the model finds no object of its kind there
        overlapping it by ``ZOOM_MATCH_IOU`` (the best-scoring such box when several do).

        A plate a quarter of a frame wide fills a quarter of the model input; in the window
        it fills 80% of it, so its corners are regressed from about three times as many
        pixels (dev photos: corner error down by about a fifth, docs/MODELS.md session 9).
        The result carries the window's own score."""
        height, width = image.shape[:2]
        x0, y0, x1, y1 = zoom_window(det.box, width, height)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None
        found = (offset_detection(d, x0, y0)
                 for d in self._detect_once(image[y0:y1, x0:x1], ZOOM_FLOOR))
        matches = [d for d in found
                   if d.kind == det.kind and iou(d.box, det.box) >= ZOOM_MATCH_IOU]
        return max(matches, key=lambda d: d.score, default=None)

    def _suppress(self, dets: list[Detection]) -> list[Detection]:
        """Class-wise then cross-class suppression over detections from several passes.
        Passes at different scales can also box one object twice, one box inside the
        other: a box mostly inside a better one of its class (``NESTED``) goes too."""
        if len(dets) < 2:
            return dets
        boxes = np.array([d.box for d in dets], np.float64)
        scores = np.array([d.score for d in dets], np.float64)
        cls = np.array([self.class_names.index(d.kind) for d in dets])
        return [dets[i] for i in self._keep(boxes, scores, cls, nested=True)]

    def _keep(self, boxes: npt.NDArray[np.float64], scores: npt.NDArray[Any],
              cls: npt.NDArray[Any], nested: bool) -> list[int]:
        """Indices kept, best first: class-wise NMS, then one kind per object (a plate and
        a house number box that nearly coincide are the model hesitating), then with
        ``nested`` boxes mostly inside a better one of their class."""
        # Class-wise NMS in one call: shifting each class by more than the extent of all
        # boxes makes cross-class overlaps zero.
        span = float(boxes.max() - boxes.min()) + 1.0
        keep = np.asarray(nms(boxes + cls[:, None] * span, scores, self.iou_threshold,
                              self.max_detections), np.intp)
        if keep.size > 1:
            again = nms(boxes[keep], scores[keep], CROSS_CLASS_IOU, self.max_detections)
            keep = keep[np.asarray(again, np.intp)]
        kept = [int(i) for i in keep]
        if not nested:
            return kept
        box = [cast("Box", tuple(b)) for b in boxes.tolist()]
        out: list[int] = []
        for i in kept:
            if not any(cls[j] == cls[i]
                       and max(covered(box[i], box[j]), covered(box[j], box[i])) >= NESTED
                       for j in out):
                out.append(i)
        return out

    def _detect_once(self, image: npt.NDArray[Any],
                     min_score: float | None = None) -> list[Detection]:
        """One letterboxed invoke over the whole of ``image``, detections scoring at least
        ``min_score`` (default: ``score_threshold``)."""
        # letterbox first: colour conversion then touches the small canvas, not the frame
        canvas, scale, pad = letterbox(image, self._h, self._w)
        self.model.set_input_pixels(_as_colour(canvas, self._c, self._rgb), self._range)
        out = self.model.invoke()
        h, w = image.shape[:2]
        return self.decode(out[self._names["classes"]][0], out[self._names["boxes"]][0],
                           out[self._names["corners"]][0], scale, pad, (w, h), min_score)

    def decode(self, classes: npt.NDArray[np.float32], box_off: npt.NDArray[np.float32],
               corner_off: npt.NDArray[np.float32], scale: float, pad: tuple[int, int],
               image_size: tuple[int, int],
               min_score: float | None = None) -> list[Detection]:
        """Raw (N, 1+C) class scores, (N, 4) and (N, 8) offsets -> detections scoring at
        least ``min_score`` (default: ``score_threshold``).

        The image sat in the input as ``input = image * scale + pad`` (see ``letterbox``);
        ``image_size`` is its (width, height).
        """
        scores = softmax(classes) if self.output_is_logits else classes
        # An anchor's score is its objectness, 1 - P(background), and its kind the likeliest
        # class: an object the model cannot place between plate and house number (a building
        # code, say) still counts as found, rather than each class's share falling short.
        objectness = 1.0 - scores[:, 0]
        floor = self.score_threshold if min_score is None else min_score
        anchor_idx = np.nonzero(objectness >= floor)[0]
        if anchor_idx.size == 0:
            return []
        cls_idx = np.argmax(scores[anchor_idx, 1:], axis=1)
        cand = objectness[anchor_idx]
        if cand.size > MAX_CANDIDATES:
            top = np.argpartition(-cand, MAX_CANDIDATES)[:MAX_CANDIDATES]
            anchor_idx, cls_idx, cand = anchor_idx[top], cls_idx[top], cand[top]
        boxes, corners = decode(box_off[anchor_idx], corner_off[anchor_idx],
                                self.anchors[anchor_idx], self.variances)
        # normalised input coords -> pixels of the image
        sx, sy = self._w / scale, self._h / scale
        ox, oy = pad[0] / scale, pad[1] / scale
        px_boxes = boxes.astype(np.float64) * (sx, sy, sx, sy) - (ox, oy, ox, oy)
        px_corners = corners.astype(np.float64).reshape(-1, 4, 2) * (sx, sy) - (ox, oy)
        keep = self._keep(px_boxes, cand, cls_idx, nested=False)
        width, height = image_size
        result: list[Detection] = []
        for i in keep:
            x1, y1, x2, y2 = np.clip(px_boxes[i], 0, (width, height, width, height)).tolist()
            if x2 - x1 < 1 or y2 - y1 < 1:
                continue
            quad = np.clip(px_corners[i], 0, (width, height))
            result.append(Detection(
                kind=self.class_names[int(cls_idx[i])], score=float(cand[i]),
                box=(x1, y1, x2, y2), corners=order_corners(quad),
            ))
        return result
