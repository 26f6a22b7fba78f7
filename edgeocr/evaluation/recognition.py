"""Score a recognizer on the label-corner crops of a labelled set."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from edgeocr.core.types import Image
from edgeocr.evaluation.metrics import TextScore, confusions
from edgeocr.evaluation.samples import CropSample

ReadFn = Callable[[Image, str], str]
"""(crop, kind) -> text: our recognizer or a peer engine."""
SampleReadFn = Callable[[CropSample], str]


@dataclass
class CropResult:
    image: str
    source: str
    truth: str
    pred: str
    ms: float


@dataclass
class RecognitionReport:
    engine: str
    overall: TextScore = field(default_factory=TextScore)
    by_source: dict[str, TextScore] = field(default_factory=dict)
    results: list[CropResult] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        times = sorted(r.ms for r in self.results)
        return times[len(times) // 2] if times else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "engine": self.engine,
            "overall": self.overall.as_dict(),
            "by_source": {k: v.as_dict() for k, v in sorted(self.by_source.items())},
            "median_ms": self.median_ms,
            "confusions": [
                {"truth": t, "pred": p, "count": n}
                for t, p, n in confusions((r.pred, r.truth) for r in self.results)
            ],
        }


def score_crops(engine: str, read: ReadFn, samples: Iterable[CropSample]) -> RecognitionReport:
    """Run ``read`` on every sample, timing each call (decoding excluded)."""
    return score_samples(engine, lambda s: read(s.crop, s.kind), samples)


def score_samples(engine: str, read: SampleReadFn,
                  samples: Iterable[CropSample]) -> RecognitionReport:
    """Like :func:`score_crops` for readers that need the whole sample (its region)."""
    report = RecognitionReport(engine)
    for s in samples:
        t0 = time.perf_counter()
        pred = read(s)
        ms = (time.perf_counter() - t0) * 1000.0
        report.overall.add(pred, s.text)
        report.by_source.setdefault(s.source, TextScore()).add(pred, s.text)
        report.results.append(CropResult(s.image, s.source, s.text, pred, ms))
    return report


def format_table(reports: list[RecognitionReport]) -> str:
    """A markdown table: one row per engine, exact % per source and overall, CER, ms."""
    sources = sorted({s for r in reports for s in r.by_source})
    head = "| engine | " + " | ".join(sources) + " | overall exact | CER | ms/crop |"
    sep = "|---" * (len(sources) + 4) + "|"
    lines = [head, sep]
    for r in reports:
        cells = [f"{100 * r.by_source[s].exact_rate:.1f}%" if s in r.by_source else "-"
                 for s in sources]
        lines.append(
            f"| {r.engine} | " + " | ".join(cells)
            + f" | {100 * r.overall.exact_rate:.1f}% | {r.overall.cer:.3f} | {r.median_ms:.2f} |"
        )
    return "\n".join(lines)
