"""Render the demo clip shipped in ``edgeocr/assets/``: cars with plates pull up in front of
a house with a house number, stop, and drive on.

    python -m edgeocr_convert.democlip [--out edgeocr/assets] [--seed 7]

Writes ``demo.mp4`` (640x480, 5 fps, ~10 s, OpenCV 'mp4v') and ``demo_expected.json``: the
texts a perfect reader publishes (one per appearance) and, per frame, the quads of the
objects fully in view (tests use them as ground truth). Plate faces and the house-number
plaque come from the synthetic engine (``edgeocr_convert.synth``); the scene is drawn here.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgeocr.core.types import Image
from edgeocr_convert.synth.backgrounds import car_body
from edgeocr_convert.synth.draw import Rendered
from edgeocr_convert.synth.house import render_house_number
from edgeocr_convert.synth.plates import render_plate

WIDTH, HEIGHT, FPS = 640, 480, 5
CAMERA = "demo"
CAR_W, CAR_H = 300, 230
PLATE_W = 132
STYLES = ("us", "eu", "br_mercosul")
ENTER, HOLD, LEAVE = 5, 7, 5
PARK_X = (WIDTH - CAR_W) // 2
CAR_Y = 232


@dataclass
class Car:
    image: Image
    mask: np.ndarray
    text: str
    plate_quad: np.ndarray  # (4, 2) in car pixels


def _paste(dst: Image, src: Image, mask: np.ndarray, x: int, y: int) -> None:
    """Alpha-paste ``src`` (with float mask 0..1) at (x, y), clipped to ``dst``."""
    h, w = src.shape[:2]
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(dst.shape[1], x + w), min(dst.shape[0], y + h)
    if x1 <= x0 or y1 <= y0:
        return
    s = src[y0 - y:y1 - y, x0 - x:x1 - x].astype(np.float32)
    m = mask[y0 - y:y1 - y, x0 - x:x1 - x, None]
    d = dst[y0:y1, x0:x1].astype(np.float32)
    dst[y0:y1, x0:x1] = np.clip(s * m + d * (1 - m), 0, 255).astype(np.uint8)


def _face(rendered: Rendered, width: int) -> tuple[Image, np.ndarray]:
    h, w = rendered.image.shape[:2]
    height = max(8, round(width * h / w))
    img = cv2.resize(rendered.image, (width, height), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(rendered.alpha.astype(np.float32), (width, height))
    if alpha.max() > 1.0:
        alpha = alpha / 255.0
    return img, alpha


def make_car(rng: np.random.Generator, style: str) -> Car:
    plate = render_plate(rng, style)
    face, alpha = _face(plate, PLATE_W)
    ph, pw = face.shape[:2]
    body_h = 150
    px, py = (CAR_W - pw) // 2, body_h - ph - 28
    body = car_body(rng, body_h, CAR_W, (px, py, px + pw, py + ph))
    _paste(body, face, alpha, px, py)
    img = np.zeros((CAR_H, CAR_W, 3), np.uint8)
    mask = np.zeros((CAR_H, CAR_W), np.float32)
    roof_h = CAR_H - body_h - 22
    roof = np.array([[40, roof_h], [70, 4], [CAR_W - 70, 4], [CAR_W - 40, roof_h]], np.int32)
    colour = tuple(int(c) for c in body[5, 5])
    cv2.fillPoly(img, [roof], colour)
    glass = np.array([[58, roof_h - 4], [82, 14], [CAR_W - 82, 14], [CAR_W - 58, roof_h - 4]],
                     np.int32)
    cv2.fillPoly(img, [glass], (70, 55, 45))
    cv2.fillPoly(mask, [roof], 1.0)
    img[roof_h:roof_h + body_h] = body
    mask[roof_h:roof_h + body_h] = 1.0
    for wx in (18, CAR_W - 68):
        cv2.rectangle(img, (wx, roof_h + body_h), (wx + 50, CAR_H - 1), (25, 25, 25), -1)
        cv2.rectangle(mask, (wx, roof_h + body_h), (wx + 50, CAR_H - 1), 1.0, -1)
    quad = np.array([[px, py], [px + pw, py], [px + pw, py + ph], [px, py + ph]],
                    np.float64) + np.array([0, roof_h])
    return Car(img, mask, plate.text, quad)


def make_background(rng: np.random.Generator) -> tuple[Image, dict[str, Any]]:
    img = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    img[:300] = (170, 200, 222)  # rendered wall
    for y in range(0, 300, 18):  # brick courses
        cv2.line(img, (0, y), (WIDTH, y), (150, 178, 200), 1)
        off = 0 if (y // 18) % 2 == 0 else 20
        for x in range(off, WIDTH, 40):
            cv2.line(img, (x, y), (x, y + 18), (150, 178, 200), 1)
    cv2.rectangle(img, (60, 60), (200, 290), (60, 80, 120), -1)  # door
    cv2.rectangle(img, (300, 50), (420, 150), (120, 100, 80), -1)  # window
    cv2.rectangle(img, (306, 56), (414, 144), (200, 180, 150), -1)
    img[300:] = (95, 95, 98)  # road
    cv2.line(img, (0, 300), (WIDTH, 300), (200, 200, 200), 4)  # kerb
    noise = rng.normal(0, 6, (HEIGHT - 304, WIDTH, 1)).astype(np.float32)
    img[304:] = np.clip(img[304:].astype(np.float32) + noise, 0, 255).astype(np.uint8)
    house = render_house_number(rng)
    face, alpha = _face(house, min(130, 30 * len(house.text) + 40))
    hx, hy = 480, 70
    _paste(img, face, alpha, hx, hy)
    h, w = face.shape[:2]
    quad = [[hx, hy], [hx + w, hy], [hx + w, hy + h], [hx, hy + h]]
    return img, {"kind": "house_number", "text": house.text, "quad": quad}


def car_x(step: int) -> int | None:
    """Car position ``step`` frames after it starts entering; None once gone."""
    start, gone = -CAR_W - 20, WIDTH + 20
    if step < ENTER:
        f = (step + 1) / ENTER
        return round(start + (PARK_X - start) * (1 - (1 - f) ** 2))  # slowing down
    if step < ENTER + HOLD:
        return PARK_X
    step -= ENTER + HOLD
    if step < LEAVE:
        f = (step + 1) / LEAVE
        return round(PARK_X + (gone - PARK_X) * f * f)  # speeding up
    return None


def render(seed: int = 7) -> tuple[list[Image], dict[str, Any]]:
    rng = np.random.default_rng(seed)
    background, house = make_background(rng)
    cars = [make_car(rng, style) for style in STYLES]
    per_car = ENTER + HOLD + LEAVE
    frames: list[Image] = []
    objects: list[list[dict[str, Any]]] = []
    for i in range(per_car * len(cars)):
        img = background.copy()
        in_view = [house]
        car = cars[i // per_car]
        x = car_x(i % per_car)
        if x is not None:
            _paste(img, car.image, car.mask, x, CAR_Y)
            quad = car.plate_quad + np.array([x, CAR_Y])
            if quad[:, 0].min() >= 0 and quad[:, 0].max() < WIDTH:
                in_view.append({"kind": "plate", "text": car.text,
                                "quad": quad.round(1).tolist()})
        noise = rng.normal(0, 2.5, img.shape).astype(np.float32)
        frames.append(np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8))
        objects.append(in_view)
    expected = {
        "camera": CAMERA, "fps": FPS, "size": [WIDTH, HEIGHT], "frames": len(frames),
        "seed": seed,
        "reads": [{"kind": "house_number", "text": house["text"]}]
        + [{"kind": "plate", "text": c.text} for c in cars],
        "objects": objects,
    }
    return frames, expected


def write_clip(frames: list[Image], path: Path, fps: int = FPS) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), float(fps),
                             (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise RuntimeError(f"{path}: OpenCV cannot write mp4v video here")
    for frame in frames:
        writer.write(frame)
    writer.release()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("edgeocr/assets"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    frames, expected = render(args.seed)
    clip = args.out / "demo.mp4"
    write_clip(frames, clip)
    (args.out / "demo_expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    texts = ", ".join(f"{r['kind']} {r['text']}" for r in expected["reads"])
    print(f"{clip}: {len(frames)} frames, {clip.stat().st_size / 1024:.0f} KiB; reads: {texts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
