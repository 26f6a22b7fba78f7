#!/usr/bin/env bash
# Re-create the shipped models from nothing but the synthetic generator (and the real
# plate-free backgrounds in ../shared/backgrounds/real-negatives for the detector).
# On 2 CPU cores: recognizer about 3.5 h (v2 1 h, then four fine-tunes of it), detector several hours (resumable: rerun the same
# line with --resume after an interruption). Training is not bit-exact across machines
# (multi-threaded TensorFlow), so a rerun gives a model of the same quality, not the same bytes.
#   bash scripts/reproduce_models.sh recognizer|detector|convert
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/dev.sh setup
BIN=.venv/bin
case "${1:-}" in
  recognizer)
    # Stage 1: the run the shipped model started from (1024 steps at lr 1e-3, stopped
    # early; equivalent to --steps 1024). Stage 2: 4902 steps from stage 1. Stage 3: 4500
    # steps at lr 5e-4 after the generator gained the stroke plate font (recognizer v1).
    # Stages 1-3 ran at 32x128, the size before session 3.
    $BIN/edgeocr-train recognizer --out runs/rec0 --steps 1024 --height 32 --width 128 --resume
    $BIN/edgeocr-train recognizer --out runs/rec1 --steps 10000 --height 32 --width 128 \
        --init runs/rec0/model.h5 --eval-every 500 --checkpoint-every 250 --resume
    $BIN/edgeocr-train recognizer --out runs/rec2 --steps 4500 --lr 5e-4 \
        --height 32 --width 128 --init runs/rec1/model.h5 --eval-every 500 \
        --checkpoint-every 250 --resume
    # Stage 4 (v2): the input grows to 40x160 (chosen by measurement, docs/MODELS.md); every
    # layer but the height fold carries over from stage 3.
    $BIN/edgeocr-train recognizer --out runs/rec40 --steps 4000 --lr 5e-4 \
        --height 40 --width 160 --init runs/rec2/model.h5 --eval-every 500 \
        --checkpoint-every 250 --resume
    # v3 (session 8): the uniform weight average of v2 and four 4,000-step fine-tunes of it
    # at lr 5e-4, each on the synthetic generator of the commit named (a worktree of this
    # tree with that commit's convert/edgeocr_convert/synth shadows the installed package
    # for that run only):
    #   ctl   9a667f3 (v2's own generator), seed 0   f   bf2bcc3 (session 7's), seed 0
    #   brmix f0fa7d3 (session 8's), seed 1          seed2 f0fa7d3, seed 2
    for spec in "ctl 9a667f3 0" "f bf2bcc3 0" "brmix f0fa7d3 1" "seed2 f0fa7d3 2"; do
      set -- $spec
      gen="build/gen-$2"
      if [ ! -d "$gen" ]; then
        git worktree add --detach "$gen" HEAD
        git -C "$gen" checkout "$2" -- convert/edgeocr_convert/synth
      fi
      PYTHONPATH="$gen/convert" $BIN/edgeocr-train recognizer --out "runs/ft_$1" \
          --steps 4000 --lr 5e-4 --height 40 --width 160 --init runs/rec40/model.h5 \
          --eval-every 500 --checkpoint-every 500 --seed "$3" --resume
    done
    $BIN/edgeocr-train soup runs/rec40/model.h5 runs/ft_ctl/model.h5 runs/ft_f/model.h5 \
        runs/ft_brmix/model.h5 runs/ft_seed2/model.h5 --out convert/models/recognizer.h5
    ;;
  detector)
    mkdir -p runs/det1
    # The committed checkpoint (convert/checkpoints/detector/) is the latest unshipped stage
    # (docs/MODELS.md); the lines below repeat the shipped v1 and v2, then the later stages.
    # The shipped detector's history (docs/MODELS.md): steps 0-3,384 on a 30,000-step cosine
    # schedule; 3,384-5,719 on an 11,000-step schedule after house-number scenes changed
    # (digits pasted on the scene's own wall, 35% house numbers); 5,719-10,000 on a
    # 10,000-step schedule with objects down to 12 px, and from 6,541 lone plates up to 95%
    # of the frame. From scratch, this one line trains the current generator on the final
    # schedule.
    $BIN/edgeocr-train detector --out runs/det1 --steps 10000 --resume
    # Stage 2 (v2, session 3): 3,000 more steps after the generator learned to tone pasted
    # objects like their surroundings (10,000-10,398 ran on a 15,000-step schedule first).
    mkdir -p runs/det2
    if [ ! -f runs/det2/state.json ]; then
      cp runs/det1/checkpoint.weights.h5 runs/det1/state.json runs/det1/train_config.json \
         runs/det1/log.csv runs/det2/
    fi
    $BIN/edgeocr-train detector --out runs/det2 --steps 13000 --resume
    cp runs/det2/model.h5 convert/models/detector.h5
    # Stages 3 (to 17,000, same generator), 4 (to 20,000, with Chinese plates) and 5 (to
    # 26,000, session 10: relief and widely spaced wall digits; steps 20,000-21,073 ran on a
    # 28,000-step schedule first), measured in docs/MODELS.md; the last is kept as the start
    # of the next stage.
    for stage in "det3 det2 17000" "det4 det3 20000" "det5 det4 26000"; do
      set -- $stage
      mkdir -p "runs/$1"
      if [ ! -f "runs/$1/state.json" ]; then
        cp "runs/$2/checkpoint.weights.h5" "runs/$2/state.json" "runs/$2/train_config.json" \
           "runs/$2/log.csv" "runs/$1/"
      fi
      $BIN/edgeocr-train detector --out "runs/$1" --steps "$3" --resume
    done
    ;;
  convert)
    $BIN/edgeocr-convert convert/models/recognizer.h5 --out edgeocr/models/recognizer.tflite \
        --calib-synthetic 300 --val-synthetic 500
    $BIN/edgeocr-convert convert/models/recognizer.h5 --float \
        --out convert/models/recognizer_float.tflite --calib-synthetic 300 --val-synthetic 500
    if [ -f convert/models/detector.h5 ]; then
      $BIN/edgeocr-convert convert/models/detector.h5 --out edgeocr/models/detector.tflite \
          --calib-synthetic 300 --val-synthetic 200
      $BIN/edgeocr-convert convert/models/detector.h5 --float \
          --out convert/models/detector_float.tflite --calib-synthetic 300 --val-synthetic 200
    fi
    ;;
  *)
    echo "usage: bash scripts/reproduce_models.sh recognizer|detector|convert" >&2; exit 2 ;;
esac
