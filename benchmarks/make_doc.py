"""Write docs/BENCHMARKS.md from ``edgeocr eval --json`` and ``edgeocr bench --json`` output.

Usage (``benchmarks/run_all.sh`` runs everything and then this)::

    python benchmarks/make_doc.py --bench build/benchmarks/bench_pipeline.json \\
        [--bench more.json ...] [--eval build/benchmarks/eval.json] \\
        [--eval-report build/benchmarks/eval_report] [--eval-note TEXT] \\
        [--commands build/benchmarks/commands.txt] [--out docs/BENCHMARKS.md] \\
        [--img-dir docs/img]

Only formats numbers it is given; it runs no model. Plots need matplotlib; without it the
tables are written and the plots are left out with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EVAL_PLOTS = ("pr_curve.png", "accuracy_by_size.png", "accuracy_by_angle.png")
"""Plots ``edgeocr eval --report`` writes that the document shows when present. The failure
galleries (worst_misses.png, crop_failures.png) show the evaluation photos themselves, whose
licences do not allow shipping them: they stay in the report folder and are only linked."""
GALLERIES = ("worst_misses.png", "crop_failures.png")


class DocError(Exception):
    """An input file is missing or not what its flag expects (``path: reason``)."""


def load_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DocError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise DocError(f"{path}: {what} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise DocError(f"{path}: {what} must be a JSON object")
    return data


def check_bench(path: Path, doc: dict[str, Any]) -> None:
    missing = [k for k in ("schema", "mode", "machine", "versions", "settings", "runs")
               if k not in doc]
    if missing or not str(doc.get("schema", "")).startswith("edgeocr-bench/"):
        what = ", ".join(missing) or "schema"
        raise DocError(f"{path}: not an edgeocr bench JSON (missing {what})")


def check_eval(path: Path, doc: dict[str, Any]) -> None:
    if not isinstance(doc.get("crops"), list):
        raise DocError(f"{path}: not an edgeocr eval JSON (no 'crops' list)")


def table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def pct(x: Any) -> str:
    return "-" if x is None else f"{100 * float(x):.1f}%"


def ms(x: Any) -> str:
    return "-" if x is None else f"{float(x):.2f}"


def rel(path: Path, doc_path: Path) -> str:
    return Path(os.path.relpath(path, doc_path.parent)).as_posix()


# --- accuracy -----------------------------------------------------------------------------

def ours_first(engines: list[str]) -> list[str]:
    """Our engines first (the int8 pipeline's rows), then the peers alphabetically."""
    return sorted(engines, key=lambda e: (not e.startswith("edgeocr"), e))


def crop_section(ev: dict[str, Any]) -> list[str]:
    reports = {c["engine"]: c for c in ev["crops"]}
    engines = ours_first(list(reports))
    sources = sorted({s for c in ev["crops"] for s in c.get("by_source", {})})
    rows = []
    for src in sources:
        n = max((reports[e]["by_source"].get(src, {}).get("n", 0) for e in engines), default=0)
        rows.append([src, str(n)] + [pct(reports[e]["by_source"].get(src, {}).get("exact"))
                                     for e in engines])
    rows.append(["**overall**", str(max((reports[e]["overall"]["n"] for e in engines),
                                        default=0))]
                + [f"**{pct(reports[e]['overall']['exact'])}**" for e in engines])
    rows.append(["CER (overall)", ""] + [f"{reports[e]['overall']['cer']:.3f}" for e in engines])
    rows.append(["median ms / crop", ""] + [ms(reports[e].get("median_ms")) for e in engines])
    return ["### Recognition on label crops (exact match per source)", "",
            "Each engine reads the same plate crops (crop images as given, scene rows warped "
            "flat from their label corners); texts normalised to A-Z0-9.", "",
            *table(["source", "n", *engines], rows), ""]


def scene_sections(ev: dict[str, Any]) -> list[str]:
    sc = ev.get("scenes")
    if not isinstance(sc, dict):
        return ["Scene evaluation was not run (`--crops-only`).", ""]
    out = [f"### Scenes ({sc.get('images', '?')} images, operating threshold "
           f"{sc.get('threshold', '?')})", ""]
    det_rows = []
    for kind, by_iou in sorted(sc.get("detection", {}).items()):
        for iou, s in sorted(by_iou.items()):
            det_rows.append([kind, str(iou), str(s["truth"]), pct(s["recall"]),
                             pct(s["precision"]), f"{s['fp_per_image']:.3f}", pct(s["ap"])])
    if det_rows:
        out += ["Detection:", "", *table(["kind", "IoU", "truth", "recall", "precision",
                                          "FP/image", "AP"], det_rows), ""]
    by_src = sc.get("detection_by_source_iou0.5", {})
    if by_src:
        out += ["Detection per source (IoU 0.5):", "",
                *table(["kind/source", "truth", "recall", "precision", "AP"],
                       [[k, str(s["truth"]), pct(s["recall"]), pct(s["precision"]),
                         pct(s["ap"])] for k, s in sorted(by_src.items())]), ""]
    e2e = sc.get("e2e_exact", {})
    axis = sc.get("e2e_exact_axis_aligned_crop", {})
    if e2e:
        out += ["End to end (detect, rectify, recognize; a read is attributed to the truth at "
                "IoU ≥ 0.4):", "",
                *table(["group", "n", "exact", "CER", "exact, axis-aligned crop"],
                       [[k, str(s["n"]), pct(s["exact"]), f"{s['cer']:.3f}",
                         pct(axis[k]["exact"]) if k in axis else "-"]
                        for k, s in sorted(e2e.items())]), ""]
    found = sc.get("found_anywhere", {})
    peers = ev.get("peer_scenes_found", {}) or {}
    if found:
        names = sorted(peers)
        rows = [[k, str(v["n"]), pct(v["rate"])] + [pct(peers[p].get(k)) for p in names]
                for k, v in sorted(found.items())]
        rows.append(["median ms / image", "",
                     ms(sc.get("frame_ms_median"))]
                    + [ms(peers[p].get("ms_per_image")) for p in names])
        out += ["Text found anywhere in the image (our int8 pipeline next to each peer):", "",
                *table(["kind/source", "n", "edgeocr int8", *names], rows), ""]
    corner = sc.get("corner_error_px", {})
    if isinstance(corner, dict) and corner.get("n"):
        out += [f"Mean corner error on quad-labelled rows: {corner['mean']:.1f} px over "
                f"{corner['n']} rows.", ""]
    if sc.get("frame_ms_median") is not None:
        out += [f"Median time per image during the evaluation (full-size images, all reads): "
                f"{sc['frame_ms_median']:.1f} ms.", ""]
    return out


def plot_accuracy(ev: dict[str, Any], path: Path) -> bool:
    """Grouped bars: crop exact match per source, one bar per engine."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reports = {c["engine"]: c for c in ev["crops"]}
    engines = ours_first(list(reports))
    sources = [*sorted({s for c in ev["crops"] for s in c.get("by_source", {})}), "overall"]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(sources)), 4))
    width = 0.8 / max(1, len(engines))
    for k, engine in enumerate(engines):
        r = reports[engine]
        vals = [100 * (r["overall"] if s == "overall" else r["by_source"].get(s, {}))
                .get("exact", 0.0) for s in sources]
        xs = [i + (k - (len(engines) - 1) / 2) * width for i in range(len(sources))]
        ax.bar(xs, vals, width, label=engine)
    ax.set_xticks(range(len(sources)), sources, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("exact match (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Recognition on label crops, per source")
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def accuracy_section(ev: dict[str, Any] | None, note: str | None, report_dir: Path | None,
                     img_dir: Path, out: Path) -> list[str]:
    lines = ["## Accuracy", ""]
    if note:
        lines += [f"> {note}", ""]
    if ev is None:
        return [*lines, "No evaluation results were given.", ""]
    lines += [f"Data: `{ev.get('data', '?')}`.", ""]
    lines += crop_section(ev)
    png = img_dir / "accuracy_by_source.png"
    if plot_accuracy(ev, png):
        lines += [f"![crop accuracy per source]({rel(png, out)})", ""]
    lines += scene_sections(ev)
    if report_dir is not None:
        for name in EVAL_PLOTS:
            src = report_dir / name
            if src.is_file():
                dst = img_dir / f"eval_{name}"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
                lines += [f"![{name[:-4].replace('_', ' ')}]({rel(dst, out)})", ""]
        shown = [n for n in GALLERIES if (report_dir / n).is_file()]
        if shown:
            lines += ["Failure galleries (not copied here: they show the evaluation photos, "
                      "which may not be redistributed): " + ", ".join(
                          f"`{report_dir / n}`" for n in shown) + ".", ""]
    return lines


# --- speed --------------------------------------------------------------------------------

MODE_TITLES = {"pipeline": "Whole pipeline on camera frames", "crops": "Recognizer alone, "
               "per crop", "model-only": "Bare interpreter invoke"}
MODE_STAGES = {"pipeline": ("decode", "detect", "zoom", "rectify", "recognize", "format",
                            "track", "publish", "frame"),
               "crops": ("recognize", "invoke"),
               "model-only": ("detector_invoke", "recognizer_invoke")}


def bench_section(doc: dict[str, Any], img_dir: Path, out: Path, index: int) -> list[str]:
    mode = str(doc["mode"])
    stages = MODE_STAGES.get(mode, ())
    st = doc["settings"]
    size = st.get("size")
    lines = [f"### {MODE_TITLES.get(mode, mode)}", ""]
    desc = f"{st['frames']} timed iterations after {st['warmup']} warm-up, over " \
           f"{st['distinct_inputs']} distinct inputs from `{st['source']}`"
    if size:
        desc += f", fitted into {size[0]}×{size[1]} JPEG frames and decoded each time"
    lines += [desc + ".", ""]
    rate = "frames/s" if mode == "pipeline" else "per s"
    head = ["variant", "delegate", "threads", rate]
    if mode == "pipeline":
        head.append("reads/frame")
    head += [f"{s} ms" for s in stages] + ["peak RSS MiB"]
    rows, notes = [], []
    for run in doc["runs"]:
        if not run.get("available"):
            notes.append(f"- {run['variant']} on `{run['delegate']}`: unavailable: "
                         f"{run.get('reason')}")
            continue
        row = [run["variant"], run["delegate"], str(run["threads"]),
               f"{run['per_second']:.1f}" if run.get("per_second") else "-"]
        if mode == "pipeline":
            row.append(f"{run.get('reads_per_frame') or 0:.2f}")
        for s in stages:
            stat = run["stages"].get(s) or {}
            row.append("-" if stat.get("median_ms") is None
                       else f"{stat['median_ms']:.2f} / {stat['p95_ms']:.2f}")
        rss = run.get("rss_mib") or {}
        row.append(f"{rss['peak']:.0f}" if rss.get("peak") is not None else "-")
        rows.append(row)
    if rows:
        lines += table(head, rows)
        unit = ("per read for zoom, rectify, recognize, format and publish (zoom is 0 for "
                "reads it skips); per frame otherwise; "
                "`frame` is the whole frame") if mode == "pipeline" else "per call"
        lines += ["", f"Cells are median / p95 in ms ({unit}). Peak RSS is the benchmark "
                      "process's maximum so far (it only grows across rows)."]
        if mode == "crops":
            one = [r for r in doc["runs"] if r.get("available") and r["threads"] == 1]
            for r in one:
                med = r["stages"]["recognize"]["median_ms"]
                verdict = "meets" if med is not None and med <= 1.0 else "misses"
                lines.append(f"{r['variant']} on one thread {verdict} the ≤ 1 ms per crop "
                             f"target ({ms(med)} ms median).")
        lines.append("")
    if notes:
        lines += ["Not measured:", "", *notes, ""]
    if rows:
        png = img_dir / f"bench_{index}_{mode}.png"
        try:
            from edgeocr.benchmark import BenchError
            from edgeocr.cli.bench import plot_medians

            plot_medians(doc, png, title=f"{MODE_TITLES.get(mode, mode)}: median ms per stage")
            lines += [f"![{mode} stage medians]({rel(png, out)})", ""]
        except (ImportError, BenchError) as exc:
            lines += [f"(plot left out: {exc})", ""]
    return lines


def context_section(docs: Sequence[dict[str, Any]]) -> list[str]:
    if not docs:
        return []
    m, v = docs[0]["machine"], docs[0]["versions"]
    lines = ["## Machine and versions", "",
             *table(["", ""], [
                 ["CPU", str(m.get("cpu"))], ["cores usable", str(m.get("cores"))],
                 ["memory", f"{m['memory_mib']:.0f} MiB" if m.get("memory_mib") else "-"],
                 ["platform", f"{m.get('platform')} ({m.get('machine')})"],
                 *[[k, str(val)] for k, val in v.items() if val is not None]]), ""]
    variants = {x["name"]: x for d in docs for x in d.get("variants", [])}
    if variants:
        rows = []
        for name, x in variants.items():
            for role in ("detector", "recognizer"):
                info = x.get(role)
                if info:
                    rows.append([name, role, f"`{info['path']}`", info.get("dtype", "?"),
                                 f"{info['bytes'] / 1024:.0f} KiB"])
        lines += ["Models:", "", *table(["variant", "role", "file", "input", "size"], rows), ""]
    return lines


def timing_section(runs: Sequence[dict[str, Any]]) -> list[str]:
    """Per-crop and per-image times of every engine, one column per eval run (threads)."""
    if not runs:
        return []
    engines: list[str] = []
    for ev in runs:
        engines += [c["engine"] for c in ev["crops"] if c["engine"] not in engines]
    peers = sorted({p for ev in runs for p in (ev.get("peer_scenes_found") or {})})
    heads = [f"{ev.get('threads', '?')} thread(s)" for ev in runs]
    rows = []
    for e in ours_first(engines):
        rows.append([f"{e}: ms / crop"] + [
            ms(next((c.get("median_ms") for c in ev["crops"] if c["engine"] == e), None))
            for ev in runs])
    rows.append(["edgeocr int8 pipeline: ms / image"] + [
        ms((ev.get("scenes") or {}).get("frame_ms_median")) for ev in runs])
    for p in peers:
        rows.append([f"{p}: ms / image"] + [
            ms((ev.get("peer_scenes_found") or {}).get(p, {}).get("ms_per_image"))
            for ev in runs])
    return ["### Time per crop and per image by thread count", "",
            "Medians from the same evaluation runs (threads = interpreter threads for ours, "
            "the engine's thread setting for each peer; images at full size, file decoding "
            "excluded).", "", *table(["engine", *heads], rows), ""]


def soak_section(soak: dict[str, Any]) -> list[str]:
    """The daemon on a looping clip: memory over time and a broker reconnect storm."""
    st = soak["storm"]
    rows = [
        ["resident memory after 1 min", f"{soak['rss_mib_at_1min']:.1f} MiB"],
        [f"resident memory after {soak['calm_steady_seconds'] / 60 + 1:.0f} min",
         f"{soak['rss_mib_end_calm']:.1f} MiB"],
        ["resident memory after the storm", f"{soak['rss_mib_end']:.1f} MiB"],
        ["peak resident memory (VmHWM)", f"{soak['peak_rss_mib']:.1f} MiB"],
        ["daemon CPU, steady (CPU-s per minute)", f"{soak['cpu_s_per_min_calm']:.2f}"],
        [f"daemon CPU during the storm ({st['cycles']} × {st['down_s']:g} s down / "
         f"{st['up_s']:g} s up)", f"{st['cpu_s_per_min']:.2f}"],
        ["reads received / unique / duplicates",
         f"{soak['reads_received']} / {soak['reads_unique']} / {soak['duplicates']}"],
        ["reads the daemon counted as published", str(soak["reads_published_last_stats"])],
        ["daemon exit on SIGTERM", str(soak["daemon_exit"])],
    ]
    return ["## Daemon soak and reconnect storm", "",
            f"`benchmarks/soak.py`: `edgeocr daemon` on `{Path(soak['clip']).name}` looped at "
            f"{soak['fps']:g} fps in real time ({soak['threads']} interpreter thread), "
            "publishing to a local mosquitto, then the broker stopped and restarted "
            "repeatedly while frames keep coming."
            + (f" Measured {soak['measured_utc']} UTC, possibly with earlier models (memory "
               "and reconnect behaviour do not depend on the weights)."
               if "measured_utc" in soak else ""), "",
            *table(["measure", "value"], rows), ""]


def render(bench: Sequence[dict[str, Any]], ev: dict[str, Any] | None, eval_note: str | None,
           report_dir: Path | None, commands: Sequence[str], out: Path,
           img_dir: Path, soak: dict[str, Any] | None = None,
           more_evals: Sequence[dict[str, Any]] = ()) -> str:
    lines = ["# edgeocr benchmarks", "",
             f"Generated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by "
             "`benchmarks/run_all.sh` (tables and plots by `benchmarks/make_doc.py`). "
             "Every number below was measured by the commands at the end of this page on "
             "the machine described next; re-run them to refresh it.", ""]
    lines += context_section(bench)
    lines += accuracy_section(ev, eval_note, report_dir, img_dir, out)
    lines += timing_section([e for e in (ev, *more_evals) if e is not None])
    lines += ["## Speed", ""]
    if not bench:
        lines += ["No benchmark results were given.", ""]
    for i, doc in enumerate(bench):
        lines += bench_section(doc, img_dir, out, i)
    if soak is not None:
        lines += soak_section(soak)
    cmds = list(commands) or [str(d["command"]) for d in bench]
    if cmds:
        lines += ["## Commands", "", "```sh", *cmds, "```", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", type=Path, action="append", default=[],
                    help="edgeocr bench --json output (repeatable)")
    ap.add_argument("--eval", type=Path, help="edgeocr eval --json output")
    ap.add_argument("--eval-report", type=Path, help="edgeocr eval --report folder")
    ap.add_argument("--eval-note", help="a note shown above the accuracy tables")
    ap.add_argument("--commands", type=Path, help="file with the exact commands, one a line")
    ap.add_argument("--soak", type=Path, help="benchmarks/soak.py --json output")
    ap.add_argument("--eval-more", type=Path, action="append", default=[],
                    help="another edgeocr eval --json run (e.g. at another thread count), "
                         "for the timing table (repeatable)")
    ap.add_argument("--out", type=Path, default=Path("docs/BENCHMARKS.md"))
    ap.add_argument("--img-dir", type=Path, default=None, help="default: <out folder>/img")
    args = ap.parse_args(argv)
    img_dir = args.img_dir or args.out.parent / "img"
    try:
        bench = []
        for path in args.bench:
            doc = load_json(path, "bench results")
            check_bench(path, doc)
            bench.append(doc)
        ev = None
        if args.eval is not None:
            ev = load_json(args.eval, "eval results")
            check_eval(args.eval, ev)
        commands: list[str] = []
        if args.commands is not None:
            try:
                commands = [c for c in args.commands.read_text(encoding="utf-8").splitlines()
                            if c.strip()]
            except OSError as exc:
                raise DocError(f"{args.commands}: {exc.strerror or exc}") from None
        soak = load_json(args.soak, "soak results") if args.soak is not None else None
        if soak is not None and args.soak is not None:
            # A soak takes 12 minutes, so run_all.sh may show an earlier one: say when it ran.
            soak["measured_utc"] = datetime.fromtimestamp(
                args.soak.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M")
        more = []
        for path in args.eval_more:
            doc = load_json(path, "eval results")
            check_eval(path, doc)
            more.append(doc)
        text = render(bench, ev, args.eval_note, args.eval_report, commands, args.out, img_dir,
                      soak, more)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    except DocError as exc:
        print(f"make_doc: {exc}", file=sys.stderr)
        return 2
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # A results file from another version of eval/bench: say so rather than trace back.
        print(f"make_doc: {', '.join(map(str, [*args.bench, args.eval]))}: unexpected "
              f"layout ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 2
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
