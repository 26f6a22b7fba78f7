#!/usr/bin/env bash
# Measure accuracy (edgeocr eval, with peers) and speed (edgeocr bench), then write
# docs/BENCHMARKS.md with tables and plots (docs/img/). Run from anywhere:
#
#   benchmarks/run_all.sh [DATA_DIR]          # default ../shared/realdata/dev
#
# Environment: OUT (raw results, default build/benchmarks), FRAMES (200), THREADS (1,2),
# PEERS (tesseract,rapidocr), EVAL_THREADS2 (2: a second eval at that thread count for the
# timing table; 0 skips it) with peers PEERS2 (default PEERS), SOAK_MINUTES (0 = no daemon soak; 10 for the published page), VARIANTS (extra "NAME:DETECTOR:RECOGNIZER" pairs, space
# separated, e.g. a float build next to the shipped int8 one), BASE_VARIANT (default
# "int8::", the shipped models), DOC and IMG (docs/BENCHMARKS.md, docs/img), EDGEOCR, PYTHON.
# A failing eval is noted in the document and does not stop the speed measurements.
set -uo pipefail

cd "$(dirname "$0")/.."
DATA=${1:-../shared/realdata/dev}
OUT=${OUT:-build/benchmarks}
FRAMES=${FRAMES:-200}
THREADS=${THREADS:-1,2}
PEERS=${PEERS:-tesseract,rapidocr}
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
if [ -z "${EDGEOCR:-}" ]; then
    if [ -x .venv/bin/edgeocr ]; then EDGEOCR=.venv/bin/edgeocr; else EDGEOCR=edgeocr; fi
fi

mkdir -p "$OUT"
COMMANDS="$OUT/commands.txt"
: > "$COMMANDS"

# Run a command and record it, quoted, exactly as run (the document lists these).
run() {
    "$PYTHON" -c 'import shlex, sys; print(shlex.join(sys.argv[1:]))' "$@" >> "$COMMANDS"
    echo "+ $*" >&2
    "$@"
}

EVAL_NOTE=""
EVAL_ARGS=()
rm -f "$OUT/eval.json"
if run "$EDGEOCR" eval "$DATA" --peers "$PEERS" --json "$OUT/eval.json" \
        --report "$OUT/eval_report"; then
    EVAL_ARGS=(--eval "$OUT/eval.json" --eval-report "$OUT/eval_report")
else
    status=$?
    echo "edgeocr eval with peers $PEERS failed (exit $status); retrying without peers" >&2
    if run "$EDGEOCR" eval "$DATA" --json "$OUT/eval.json" --report "$OUT/eval_report"; then
        EVAL_ARGS=(--eval "$OUT/eval.json" --eval-report "$OUT/eval_report")
        EVAL_NOTE="edgeocr eval with peers ($PEERS) failed with exit $status; peers are missing from these tables."
    else
        EVAL_NOTE="edgeocr eval failed (exit $?); accuracy was not measured in this run."
    fi
fi

# The same evaluation at another thread count, for the timing table (EVAL_THREADS2=0: skip).
MORE_ARGS=()
if [ "${EVAL_THREADS2:-2}" != "0" ] && run "$EDGEOCR" eval "$DATA" --peers "${PEERS2:-$PEERS}" \
        --threads "${EVAL_THREADS2:-2}" --json "$OUT/eval_threads${EVAL_THREADS2:-2}.json"; then
    MORE_ARGS=(--eval-more "$OUT/eval_threads${EVAL_THREADS2:-2}.json")
fi

# SOAK_MINUTES > 0: also run the daemon soak + reconnect storm (benchmarks/soak.py).
# SOAK_JSON: show an earlier soak.py --json result instead of running one.
SOAK_ARGS=()
if [ "${SOAK_MINUTES:-0}" != "0" ] && run "$PYTHON" benchmarks/soak.py --minutes "$SOAK_MINUTES" \
        --json "$OUT/soak.json"; then
    SOAK_ARGS=(--soak "$OUT/soak.json")
elif [ -n "${SOAK_JSON:-}" ] && [ -f "$SOAK_JSON" ]; then
    SOAK_ARGS=(--soak "$SOAK_JSON")
fi

# "int8::" is the shipped int8 pair (empty paths = shipped models).
VARIANT_ARGS=(--variant "${BASE_VARIANT:-int8::}")
for v in ${VARIANTS:-}; do VARIANT_ARGS+=(--variant "$v"); done

BENCH_ARGS=()
if run "$EDGEOCR" bench --frames "$FRAMES" --threads "$THREADS" "${VARIANT_ARGS[@]}" \
        --json "$OUT/bench_pipeline.json" --plot "$OUT/bench_pipeline.png"; then
    BENCH_ARGS+=(--bench "$OUT/bench_pipeline.json")
fi
CROPS="$DATA/images/openalpr_us_crops"
if [ -d "$CROPS" ] && run "$EDGEOCR" bench --crops "$CROPS" --frames 1000 \
        --threads "$THREADS" "${VARIANT_ARGS[@]}" --json "$OUT/bench_crops.json"; then
    BENCH_ARGS+=(--bench "$OUT/bench_crops.json")
fi
if run "$EDGEOCR" bench --model-only --frames 500 --threads "$THREADS" "${VARIANT_ARGS[@]}" \
        --json "$OUT/bench_model.json"; then
    BENCH_ARGS+=(--bench "$OUT/bench_model.json")
fi

DOC_ARGS=("${BENCH_ARGS[@]}" "${EVAL_ARGS[@]}" "${MORE_ARGS[@]}" "${SOAK_ARGS[@]}" --commands "$COMMANDS"
          --out "${DOC:-docs/BENCHMARKS.md}" --img-dir "${IMG:-docs/img}")
if [ -n "$EVAL_NOTE" ]; then DOC_ARGS+=(--eval-note "$EVAL_NOTE"); fi
"$PYTHON" benchmarks/make_doc.py "${DOC_ARGS[@]}"
