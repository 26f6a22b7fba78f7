"""Detector training scenes: plates and house numbers composited into backgrounds with
exact corners, plus unlabelled text as hard negatives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import cv2
import numpy as np

from edgeocr.core.types import KINDS, Image, Kind, Quad
from edgeocr_convert.synth import augment, draw
from edgeocr_convert.synth.backgrounds import BackgroundPool, car_body, package_pool, procedural
from edgeocr_convert.synth.crops import render_object
from edgeocr_convert.synth.draw import Rendered, rescale
from edgeocr_convert.synth.negatives import render_negative

# Share of plates among scene objects. Crops use crops.PLATE_SHARE (0.8); scenes carry more
# house numbers because finding digits mounted on a real wall is the harder detection task.
SCENE_PLATE_SHARE = 0.65
# Share of wall-mounted digits drawn straight onto the scene's own surface (only the
# characters and their shadow are pasted), rather than on a patch of rendered wall.
ON_SCENE_WALL = 0.7
# Share of pasted objects (labelled or not) toned and softened like the patch of scene they
# land on. A pasted face is sharper, cleaner and often brighter than the photo around it; a
# detector that learns that cue scores real plates, which carry none of it, low.
HARMONIZE = 0.6
# Share of scenes resampled down and up after compositing, so pasted objects and the
# background lose detail together.
RESAMPLE = 0.3
# Narrowest object in a scene, in pixels of the detector input. Real US photos put plates
# 15-45 px wide into a 320 px letterbox (median 22 px): the detector must see that size.
MIN_OBJECT_WIDTH = 12.0


@dataclass(frozen=True)
class SceneObject:
    kind: Kind
    text: str
    quad: Quad  # pixels, clockwise from top-left, inside the image


@dataclass(frozen=True)
class SceneSample:
    image: Image  # (H, W, 3) BGR uint8; greyscale scenes are grey in all three channels
    objects: list[SceneObject] = field(default_factory=list)


def _background(
    rng: np.random.Generator, height: int, width: int, pool: BackgroundPool | None
) -> Image:
    r = rng.random()
    if r < 0.08 and len(package_pool()):
        pool = package_pool()  # sample photos shipped with installed packages, if any
    if pool is not None and len(pool) and r < 0.7:
        patch = pool.sample(rng, height, width)
        if patch is not None:
            if rng.random() < 0.5:
                # The real photos are grey; tint some so colour scenes are not all grey.
                patch = augment.colour_cast(rng, patch)
            return patch
    return procedural(rng, height, width)


def _with_context(
    rng: np.random.Generator, obj: Rendered, kind: Kind
) -> tuple[Image, np.ndarray, np.ndarray]:
    """The face alone or on a car-like body / wall patch; returns (image, alpha, face quad)."""
    fh, fw = obj.image.shape[:2]
    face_quad = np.array([[0, 0], [fw, 0], [fw, fh], [0, fh]], dtype=np.float64)
    ctx = rng.random()
    if kind == "plate" and ctx < 0.65:
        mx, my_top, my_bot = (
            # A real car is 3-5 plates wide and many plates tall above the plate.
            int(fw * rng.uniform(0.4, 2.2)),
            int(fh * rng.uniform(0.6, 8.0)),
            int(fh * rng.uniform(0.3, 2.5)),
        )
        ch, cw = fh + my_top + my_bot, fw + 2 * mx
        canvas = car_body(rng, ch, cw, (mx, my_top, mx + fw, my_top + fh))
        alpha = draw.rounded_mask(ch, cw, int(min(ch, cw) * rng.uniform(0.05, 0.3)))
        ox, oy = mx, my_top
    elif kind == "house_number" and ctx < 0.35:
        m = int(fh * rng.uniform(0.2, 0.8))
        ch, cw = fh + 2 * m, fw + 2 * m
        canvas = procedural(rng, ch, cw)
        alpha = np.full((ch, cw), 255, np.uint8)
        ox = oy = m
    else:
        return obj.image, obj.alpha, face_quad
    a = obj.alpha.astype(np.float32)[..., None] / 255.0
    roi = canvas[oy : oy + fh, ox : ox + fw].astype(np.float32)
    canvas[oy : oy + fh, ox : ox + fw] = (roi + (obj.image.astype(np.float32) - roi) * a).astype(
        np.uint8
    )
    return canvas, alpha, face_quad + np.array([ox, oy], dtype=np.float64)


def place_object(
    rng: np.random.Generator,
    scene: Image,
    src: Image,
    alpha: np.ndarray,
    face_quad: np.ndarray,
    target_w: float,
    taken: list[tuple[float, float, float, float]],
    *,
    must_fit: bool,
    harmonize_share: float = HARMONIZE,
) -> np.ndarray | None:
    """Warp ``src`` (tilted, scaled so the face is ``target_w`` wide) into ``scene`` at a random
    free position; returns the face quad in scene pixels, or None when it does not fit.
    A ``harmonize_share`` of calls tone the pasted pixels like their surroundings."""
    sh, sw = scene.shape[:2]
    h = augment.rotation_homography(
        rng,
        src.shape[1],
        src.shape[0],
        (float(face_quad[:, 0].mean()), float(face_quad[:, 1].mean())),
    )
    s = target_w / float(face_quad[1, 0] - face_quad[0, 0])
    sm = np.diag([s, s, 1.0])
    m = sm @ h
    fq = augment.apply_homography(face_quad, m)
    src_corners = np.array(
        [[0, 0], [src.shape[1], 0], [src.shape[1], src.shape[0]], [0, src.shape[0]]], np.float64
    )
    sq = augment.apply_homography(src_corners, m)
    flo, fhi = fq.min(axis=0), fq.max(axis=0)
    # The placement range below is [1 - lo, size - 2 - hi]: it is empty unless the span
    # fits in size - 3 pixels.
    if fhi[0] - flo[0] > sw - 3 or fhi[1] - flo[1] > sh - 3:
        return None
    for _ in range(12):
        tx = rng.uniform(1 - flo[0], sw - 2 - fhi[0])
        ty = rng.uniform(1 - flo[1], sh - 2 - fhi[1])
        shift = np.array([tx, ty])
        lo, hi = sq.min(axis=0) + shift, sq.max(axis=0) + shift
        box = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
        if not must_fit or not any(_overlap(box, t) for t in taken):
            break
    else:
        return None
    mt = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]], dtype=np.float64) @ m
    x0, y0 = int(max(0, np.floor(box[0]))), int(max(0, np.floor(box[1])))
    x1, y1 = int(min(sw, np.ceil(box[2]) + 1)), int(min(sh, np.ceil(box[3]) + 1))
    if x1 <= x0 or y1 <= y0:
        return None
    # Warp only into the bounding box of the object, not the whole scene.
    local = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], dtype=np.float64) @ mt
    size = (x1 - x0, y1 - y0)
    interp = cv2.INTER_AREA if s < 0.7 else cv2.INTER_LINEAR
    warped = cv2.warpPerspective(src, local, size, flags=interp, borderMode=cv2.BORDER_REPLICATE)
    a = cv2.warpPerspective(
        alpha, local, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    if rng.random() < harmonize_share:
        warped = harmonize(rng, warped, scene[y0:y1, x0:x1], a)
    af = a.astype(np.float32)[..., None] / 255.0
    roi = scene[y0:y1, x0:x1].astype(np.float32)
    scene[y0:y1, x0:x1] = (roi + (warped.astype(np.float32) - roi) * af).astype(np.uint8)
    taken.append(box)
    out: np.ndarray = augment.apply_homography(face_quad, mt)
    return out


def harmonize(rng: np.random.Generator, obj: Image, roi: Image, alpha: np.ndarray) -> Image:
    """``obj`` (warped into ``roi``'s box) with its brightness pulled toward the scene around
    it, its contrast squeezed, softened and given the scene's grain."""
    out = obj.astype(np.float32)
    mask = alpha > 127
    if not mask.any():
        return obj
    around = roi[~mask] if (~mask).any() else roi
    m_obj = float(out[mask].mean())
    m_bg = float(np.asarray(around, np.float32).mean())
    target = float(np.clip(m_bg * rng.uniform(0.8, 1.5) + rng.uniform(-15, 30), 40, 235))
    k = float(rng.uniform(0.55, 1.0))
    out = (out - m_obj) * k + target
    if min(obj.shape[:2]) >= 8 and rng.random() < 0.6:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.3, 1.1)))
    if rng.random() < 0.5:
        grain = augment.noise_field(rng, out.shape[0], out.shape[1], float(rng.uniform(1.0, 6.0)))
        out += grain[..., None] if out.ndim == 3 else grain
    return cast("Image", np.clip(out, 0, 255).astype(np.uint8))


def resample(rng: np.random.Generator, scene: Image) -> Image:
    """Down- and up-sample ``scene`` (same size): the detail a cheap lens or sensor loses."""
    h, w = scene.shape[:2]
    f = float(rng.uniform(0.45, 0.85))
    small = cv2.resize(
        scene, (max(8, int(w * f)), max(8, int(h * f))), interpolation=cv2.INTER_AREA
    )
    return cast("Image", cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR))


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def make_scene(
    rng: np.random.Generator,
    height: int,
    width: int,
    backgrounds: BackgroundPool | None,
    *,
    kinds: Sequence[Kind] = KINDS,
    min_objects: int = 0,
    max_objects: int = 3,
) -> SceneSample:
    """A (height, width) BGR scene with 0-3 labelled objects (at least ``min_objects``) of
    ``kinds`` and 0-3 unlabelled text negatives."""
    if height < 32 or width < 32:
        raise ValueError(f"scene size {width}x{height} is too small (need at least 32x32)")
    for k in kinds:
        if k not in KINDS:
            raise ValueError(f"unknown kind {k!r}; expected one of {', '.join(KINDS)}")
    scene = _background(rng, height, width, backgrounds).copy()
    taken: list[tuple[float, float, float, float]] = []
    for _ in range(int(rng.choice(4, p=[0.35, 0.35, 0.2, 0.1]))):
        tw = float(np.exp(rng.uniform(np.log(25), np.log(width * 0.6))))
        neg = rescale(render_negative(rng), tw * 1.4)
        place_object(
            rng, scene, neg.image, neg.alpha, _face_quad(neg.image), tw, [], must_fit=False
        )
    n = int(rng.choice(4, p=[0.1, 0.5, 0.28, 0.12]))
    n = min(max(n, min_objects), max(max_objects, min_objects))
    objects: list[SceneObject] = []
    attempts = 0
    while len(objects) < n and attempts < n + 6:
        attempts += 1
        if len(kinds) == 1:
            kind = kinds[0]
        else:
            kind = "plate" if rng.random() < SCENE_PLATE_SHARE else "house_number"
        obj = render_object(rng, kind)
        max_w = width * (0.95 if n == 1 else 0.45)  # close-ups fill the frame
        tw = float(np.exp(rng.uniform(np.log(MIN_OBJECT_WIDTH), np.log(max(31.0, max_w)))))
        # Later attempts shrink, so a crowded scene still reaches min_objects.
        tw = max(tw / (1 + max(0, attempts - n)), MIN_OBJECT_WIDTH)
        obj = rescale(obj, tw * 1.4)
        obj = Rendered(augment.surface_effects(rng, obj.image), obj.text, obj.alpha, obj.style)
        if obj.ink is not None and rng.random() < ON_SCENE_WALL:
            # Digits on the background's own wall: paste the characters, not the patch.
            ink = cv2.dilate(obj.ink, np.ones((3, 3), np.uint8))
            obj = Rendered(obj.image, obj.text, ink, obj.style)
            src, alpha, fq = obj.image, obj.alpha, _face_quad(obj.image)
        else:
            src, alpha, fq = _with_context(rng, obj, kind)
        quad = place_object(rng, scene, src, alpha, fq, tw, taken, must_fit=True)
        if quad is None:
            continue
        q = tuple((round(float(x), 2), round(float(y), 2)) for x, y in quad)
        objects.append(SceneObject(kind, obj.text, q))  # type: ignore[arg-type]
    if rng.random() < RESAMPLE:
        scene = resample(rng, scene)
    scene = augment.camera_effects(
        rng, scene, strength=float(rng.uniform(0.3, 1.0)), blur_scale=0.8
    )
    if rng.random() < 0.3:
        scene = cast(
            "Image", cv2.cvtColor(cv2.cvtColor(scene, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        )
    return SceneSample(np.ascontiguousarray(scene), objects)


def _face_quad(img: Image) -> np.ndarray:
    h, w = img.shape[:2]
    return np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
