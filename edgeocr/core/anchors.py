"""SSD anchors and the box / corner offset encoding, defined once for both sides.

The trainer encodes targets with :func:`encode`, the device decodes predictions with
:func:`decode`, and both build anchors from the :class:`AnchorSpec` saved in the model's
sidecar, so a detector trained with another layout decodes correctly.

Anchors are (N, 4) arrays of (cx, cy, w, h) in [0, 1] of the network input. The order is
feature map by feature map, then row-major cells, then the anchors of one cell: the same
order as the detector's concatenated outputs.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

FloatArray = npt.NDArray[np.float32]


class FeatureMapSpec(BaseModel):
    """One prediction layer: its stride in input pixels and the anchors of each cell."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stride: int = Field(gt=0)
    scales: tuple[float, ...] = Field(min_length=1)
    """Anchor heights as fractions of the input height."""
    aspect_ratios: tuple[float, ...] = Field(min_length=1)
    """Anchor width / height ratios in input pixels."""

    @property
    def anchors_per_cell(self) -> int:
        return len(self.scales) * len(self.aspect_ratios)


class AnchorSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    input_height: int = Field(gt=0)
    input_width: int = Field(gt=0)
    feature_maps: tuple[FeatureMapSpec, ...] = Field(min_length=1)
    variances: tuple[float, float] = (0.1, 0.2)
    """Divisors of the centre/corner (first) and log-size (second) offsets."""

    def grid(self, fm: FeatureMapSpec) -> tuple[int, int]:
        """(rows, cols) of a feature map: input size over stride, rounded up."""
        return -(-self.input_height // fm.stride), -(-self.input_width // fm.stride)

    @property
    def num_anchors(self) -> int:
        total = 0
        for fm in self.feature_maps:
            rows, cols = self.grid(fm)
            total += rows * cols * fm.anchors_per_cell
        return total


def default_anchor_spec(input_height: int = 320, input_width: int = 320) -> AnchorSpec:
    """Three maps (strides 16, 32, 64) with wide anchors for plates and squarer ones for
    house numbers. Heights cover about 3% to 60% of the frame."""
    return AnchorSpec(
        input_height=input_height,
        input_width=input_width,
        feature_maps=(
            FeatureMapSpec(stride=16, scales=(0.035, 0.06), aspect_ratios=(1.0, 2.2, 4.0)),
            FeatureMapSpec(stride=32, scales=(0.1, 0.16), aspect_ratios=(1.0, 2.2, 4.0)),
            FeatureMapSpec(stride=64, scales=(0.26, 0.45), aspect_ratios=(1.0, 2.2, 4.0)),
        ),
    )


def generate_anchors(spec: AnchorSpec) -> FloatArray:
    """(N, 4) anchors (cx, cy, w, h), normalised to the input size."""
    out: list[FloatArray] = []
    for fm in spec.feature_maps:
        rows, cols = spec.grid(fm)
        cy = (np.arange(rows, dtype=np.float32) + 0.5) * fm.stride / spec.input_height
        cx = (np.arange(cols, dtype=np.float32) + 0.5) * fm.stride / spec.input_width
        gx, gy = np.meshgrid(cx, cy)
        per_cell = []
        for scale in fm.scales:
            for ratio in fm.aspect_ratios:
                h = scale
                w = scale * ratio * spec.input_height / spec.input_width
                per_cell.append((w, h))
        wh = np.asarray(per_cell, dtype=np.float32)  # (A, 2)
        centres = np.stack([gx, gy], axis=-1).reshape(-1, 1, 2)  # (R*C, 1, 2)
        a = np.concatenate(
            [np.broadcast_to(centres, (centres.shape[0], len(wh), 2)),
             np.broadcast_to(wh[None], (centres.shape[0], len(wh), 2))],
            axis=-1,
        )
        out.append(a.reshape(-1, 4))
    return np.concatenate(out, axis=0).astype(np.float32)


def encode(
    boxes: FloatArray, corners: FloatArray, anchors: FloatArray, variances: tuple[float, float]
) -> tuple[FloatArray, FloatArray]:
    """Offsets of matched targets relative to their anchors.

    ``boxes`` (N, 4) x1y1x2y2 and ``corners`` (N, 8) x1y1..x4y4, both normalised, one row
    per anchor. Returns (N, 4) box offsets and (N, 8) corner offsets.
    """
    v0, v1 = variances
    acx, acy, aw, ah = anchors[:, 0], anchors[:, 1], anchors[:, 2], anchors[:, 3]
    bw = np.maximum(boxes[:, 2] - boxes[:, 0], 1e-6)
    bh = np.maximum(boxes[:, 3] - boxes[:, 1], 1e-6)
    bcx = (boxes[:, 0] + boxes[:, 2]) / 2
    bcy = (boxes[:, 1] + boxes[:, 3]) / 2
    box_off = np.stack(
        [(bcx - acx) / (aw * v0), (bcy - acy) / (ah * v0), np.log(bw / aw) / v1,
         np.log(bh / ah) / v1],
        axis=1,
    )
    c = corners.reshape(-1, 4, 2)
    corner_off = np.stack(
        [(c[:, :, 0] - acx[:, None]) / (aw[:, None] * v0),
         (c[:, :, 1] - acy[:, None]) / (ah[:, None] * v0)],
        axis=2,
    ).reshape(-1, 8)
    return box_off.astype(np.float32), corner_off.astype(np.float32)


def decode(
    box_off: FloatArray, corner_off: FloatArray, anchors: FloatArray,
    variances: tuple[float, float],
) -> tuple[FloatArray, FloatArray]:
    """Inverse of :func:`encode`: normalised (N, 4) x1y1x2y2 boxes and (N, 8) corners."""
    v0, v1 = variances
    acx, acy, aw, ah = anchors[:, 0], anchors[:, 1], anchors[:, 2], anchors[:, 3]
    cx = acx + box_off[:, 0] * v0 * aw
    cy = acy + box_off[:, 1] * v0 * ah
    w = aw * np.exp(np.clip(box_off[:, 2] * v1, -10, 10))
    h = ah * np.exp(np.clip(box_off[:, 3] * v1, -10, 10))
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    c = corner_off.reshape(-1, 4, 2)
    xs = acx[:, None] + c[:, :, 0] * v0 * aw[:, None]
    ys = acy[:, None] + c[:, :, 1] * v0 * ah[:, None]
    corners = np.stack([xs, ys], axis=2).reshape(-1, 8)
    return boxes.astype(np.float32), corners.astype(np.float32)


def nms(boxes: npt.NDArray[np.floating], scores: npt.NDArray[np.floating],
        iou_threshold: float, max_out: int = 100) -> list[int]:
    """Greedy non-maximum suppression; returns kept indices, best first."""
    order = np.argsort(-scores)
    keep: list[int] = []
    b = boxes.astype(np.float64)
    areas = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    while order.size and len(keep) < max_out:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        ix = np.clip(np.minimum(b[i, 2], b[rest, 2]) - np.maximum(b[i, 0], b[rest, 0]), 0, None)
        iy = np.clip(np.minimum(b[i, 3], b[rest, 3]) - np.maximum(b[i, 1], b[rest, 1]), 0, None)
        inter = ix * iy
        union = areas[i] + areas[rest] - inter
        overlap = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
        order = rest[overlap <= iou_threshold]
    return keep
