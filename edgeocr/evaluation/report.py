"""Human-facing outputs of an evaluation: markdown summary, plots, failure gallery.

matplotlib is a development dependency (``pip install edgeocr[dev]``), imported only here.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgeocr.core.types import Image, Quad
from edgeocr.evaluation.metrics import TextScore
from edgeocr.evaluation.recognition import RecognitionReport, format_table
from edgeocr.evaluation.samples import read_image
from edgeocr.evaluation.scenes import FATES, SceneRecord, SceneReport


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def markdown_summary(crops: Sequence[RecognitionReport], scenes: SceneReport | None,
                     peers_scenes: dict[str, dict[str, float]], title: str) -> str:
    out = [f"# {title}", "", "## Recognition of label-corner crops (plates)", "",
           format_table(list(crops)), ""]
    ours = crops[0] if crops else None
    if ours is not None:
        conf = ours.as_dict()["confusions"]
        if isinstance(conf, list) and conf:
            pairs = ", ".join(f"{c['truth']}→{c['pred']} ×{c['count']}" for c in conf[:10])
            out += [f"Most frequent confusions ({ours.engine}, truth→read): {pairs}", ""]
    if scenes is not None:
        d = scenes.as_dict()
        out += ["## Scenes: detection", "", "| kind | IoU | truth | recall | precision | "
                "FP/image | AP |", "|---|---|---|---|---|---|---|"]
        for kind, by_iou in sorted(scenes.detection.items()):
            for iou, s in sorted(by_iou.items()):
                out.append(f"| {kind} | {iou} | {s.n_truth} | {_pct(s.recall)} | "
                           f"{_pct(s.precision)} | {s.fp_per_image:.3f} | "
                           f"{_pct(s.average_precision)} |")
        out += ["", "## Scenes: end to end (read attributed to the truth at IoU ≥ 0.4)", "",
                "| group | n | exact | CER | exact, axis-aligned crop |", "|---|---|---|---|---|"]
        for key, score in sorted(scenes.e2e.items()):
            axis = scenes.e2e_axis.get(key, TextScore())
            axis_cell = _pct(axis.exact_rate) if axis.n else "-"
            out.append(f"| {key} | {score.n} | {_pct(score.exact_rate)} | {score.cer:.3f} | "
                       f"{axis_cell} |")
        out += fate_table(scenes)
        out += ["", "## Scenes: text found anywhere in the image", "",
                "| group | n | ours | " + " | ".join(sorted(peers_scenes)) + " |",
                "|---|---|---|" + "---|" * len(peers_scenes)]
        found = scenes.found_anywhere
        for key in sorted(found):
            vals = found[key]
            cells = [_pct(peers_scenes[p].get(key, float("nan"))) for p in sorted(peers_scenes)]
            out.append(f"| {key} | {len(vals)} | {_pct(sum(vals) / len(vals))} | "
                       + " | ".join(cells) + " |")
        ce = d["corner_error_px"]
        if isinstance(ce, dict) and ce.get("n"):
            out += ["", f"Mean corner error on quad rows: {ce['mean']:.1f} px over {ce['n']} rows."]
        out += ["", f"Median frame time (detect + rectify + recognize, all reads): "
                    f"{d['frame_ms_median']:.1f} ms over {scenes.images} images."]
    return "\n".join(out) + "\n"


def fate_table(scenes: SceneReport) -> list[str]:
    """Markdown lines: where each truth's end-to-end read went (scenes.FATES), per group."""
    if not scenes.fates:
        return []
    out = ["", "## Scenes: where end-to-end reads go (truths with text)", "",
           "| group | n | " + " | ".join(FATES) + " |", "|---|---|" + "---|" * len(FATES)]
    for key, counts in sorted(scenes.fates.items()):
        out.append(f"| {key} | {sum(counts.values())} | "
                   + " | ".join(str(counts[f]) for f in FATES) + " |")
    out += ["", "Kept, label corners read it: the kept read is wrong but a warp from the "
            "label's own corners reads the truth (corners or look choice lose it). Dropped: a "
            "candidate at IoU >= 0.4 that the read verification rejected. No candidate: "
            "no detector candidate at IoU >= 0.4, even at the evaluation's low score threshold."]
    return out


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_pr(scenes: SceneReport, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4))
    for kind, by_iou in sorted(scenes.detection.items()):
        for iou, s in sorted(by_iou.items()):
            rec, prec = s.pr_curve()
            if rec.size:
                ax.plot(rec, prec, label=f"{kind} IoU≥{iou} (AP {100 * s.average_precision:.1f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("Detection precision-recall")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_binned(rows: Sequence[SceneRecord], value: Callable[[SceneRecord], float],
                 edges: Sequence[float], unit: str, xlabel: str, title: str, colour: str,
                 path: Path) -> None:
    """Bars of end-to-end exact match over bins of ``value``, each labelled with its n."""
    plt = _plt()
    labels, rates, counts = [], [], []
    last = len(edges) - 2
    for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
        sel = [r for r in rows if lo <= value(r) < hi or (i == last and value(r) == hi)]
        if sel:
            labels.append(f"{lo:.0f}-{hi:.0f}{unit}")
            rates.append(100 * sum(r.pred == r.truth for r in sel) / len(sel))
            counts.append(len(sel))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    bars = ax.bar(labels, rates, color=colour)
    for bar, n in zip(bars, counts, strict=True):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 1, f"n={n}",
                ha="center", fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("end-to-end exact (%)")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_by_size(records: Sequence[SceneRecord], path: Path) -> None:
    """End-to-end exact match by plate height in pixels (quantile bins)."""
    rows = [r for r in records if r.truth and r.plate_height > 0]
    if len(rows) < 4:
        return
    heights = np.array([r.plate_height for r in rows])
    edges = [float(e) for e in np.unique(np.quantile(heights, np.linspace(0, 1, 6)))]
    _plot_binned(rows, lambda r: r.plate_height, edges, "", "plate height in the image (px)",
                 "Accuracy by plate size", "#4a7ab5", path)


def quad_tilt(quad: Quad) -> float:
    """Degrees the top edge of a clockwise quad is tilted from horizontal (absolute)."""
    (x1, y1), (x2, y2) = quad[0], quad[1]
    return abs(float(np.degrees(np.arctan2(y2 - y1, x2 - x1))))


def plot_by_angle(records: Sequence[SceneRecord], path: Path) -> None:
    """End-to-end exact match by the tilt of the labelled quad. Only rows labelled with
    true corners (geometry ``quad``) count: an axis-aligned box says nothing about angle."""
    rows = [r for r in records if r.truth and r.truth_quad is not None
            and r.corner_error is not None]
    if len(rows) < 2:
        return
    _plot_binned(rows, lambda r: quad_tilt(r.truth_quad) if r.truth_quad else 0.0,
                 [0.0, 5.0, 10.0, 20.0, 90.0], "°",
                 "tilt of the plate's top edge (quad-labelled rows)", "Accuracy by angle",
                 "#b5804a", path)


def _tile(image: Image, width: int, height: int) -> Image:
    h, w = image.shape[:2]
    s = min(width / w, height / h)
    small = cv2.resize(image, (max(1, int(w * s)), max(1, int(h * s))))
    tile = np.full((height, width, 3), 40, np.uint8)
    if small.ndim == 2:
        small = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)
    tile[: small.shape[0], : small.shape[1]] = small
    return tile


def _write_grid(tiles: list[Image], cols: int, path: Path) -> int:
    """Write equal-sized tiles as a grid PNG (white fill); returns how many were real."""
    if not tiles:
        return 0
    count = len(tiles)
    while len(tiles) % cols:
        tiles.append(np.full_like(tiles[0], 255))
    grid = np.vstack([np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)])
    cv2.imwrite(str(path), grid)
    return count


def gallery(records: Sequence[SceneRecord], root: Path, path: Path, limit: int = 24) -> int:
    """A PNG of the worst misses: image with truth (green) and predicted (red) quads, and
    the text read vs the truth. Returns how many tiles it drew."""
    misses = [r for r in records if r.truth and r.pred != r.truth]
    misses.sort(key=lambda r: (r.pred_quad is not None, r.score))
    tiles = []
    for r in misses[:limit]:
        image = read_image(root / r.image).copy()
        if r.truth_quad is not None:
            cv2.polylines(image, [np.asarray(r.truth_quad, dtype=np.int32)], True, (0, 200, 0), 2)
        if r.pred_quad is not None:
            cv2.polylines(image, [np.asarray(r.pred_quad, dtype=np.int32)], True, (0, 0, 255), 2)
        tile = _tile(image, 320, 220)
        caption = np.full((40, 320, 3), 255, np.uint8)
        cv2.putText(caption, f"truth {r.truth}", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (0, 120, 0), 1)
        cv2.putText(caption, f"read  {r.pred or '(none)'}  s={r.score:.2f}", (4, 34),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 200), 1)
        tiles.append(np.vstack([tile, caption]))
    return _write_grid(tiles, 4, path)


def crop_gallery(report: RecognitionReport, root: Path, path: Path, limit: int = 40) -> int:
    """A PNG of misread label crops (crop images from the set; warped rows skipped)."""
    misses = [r for r in report.results if r.pred != r.truth and "crops" in r.source]
    tiles = []
    for r in misses[:limit]:
        tile = _tile(read_image(root / r.image), 256, 110)
        caption = np.full((36, 256, 3), 255, np.uint8)
        cv2.putText(caption, f"{r.truth} -> {r.pred or '-'}", (4, 24),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 180), 1)
        tiles.append(np.vstack([tile, caption]))
    return _write_grid(tiles, 5, path)
