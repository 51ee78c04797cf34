#!/usr/bin/env bash
# One prepared run for a lent GPU machine (see DEVELOPERS.md): CUDA tests (and NVENC through
# --codec hw), then the GPU speed table, then editors' sizes end to end with the model on the GPU
# (samples/bench_hd.py: 1080p and 4K, the default x264 output and --codec hw), then (when the
# DAVIS 2016 train folder is there) a short training burst from the packaged weights that
# checkpoints every few minutes.  Everything it produces goes to $OUT
# (default ./gpu-out), so a run cut short still returns what it finished.
#
#   OUT=/tmp/gpu bash samples/gpu_session.sh            # all three parts
#   PARTS=tests,hd bash samples/gpu_session.sh           # a subset (tests, bench, hd, train)
#   DRY_RUN=1 bash samples/gpu_session.sh               # on a CPU: tiny sizes, to check the script
#   TRAIN_SECONDS=300 ...                               # the training burst's time limit (default 360)
# Training checkpoints stay in ./gpu-train (too large to bring back); the exported weights
# of the newest one go to $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-out}
PARTS=${PARTS:-tests,bench,hd,train}
DAVIS_ROOT=${DAVIS_ROOT:-../shared/datasets/davis2016-train}
mkdir -p "$OUT"
PY=${PYTHON:-python}
if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; fi
DEVICE=cuda
SIZES=480x854
OBJECTS=1,5
MODELS=deaott,aott,r50_deaotl,swinb_deaotl
FRAMES=50
STEPS=2000
HD_SIZES=1080p,4k HD_FRAMES=30 HD_REPEAT=2
if [[ -n "${DRY_RUN:-}" ]]; then
  DEVICE=cpu SIZES=64x96 OBJECTS=1 MODELS=deaott FRAMES=2 STEPS=4
  HD_SIZES=96x64 HD_FRAMES=3 HD_REPEAT=1
fi
log() { echo "$(date -u +%H:%M:%S) $*" | tee -a "$OUT/session.log"; }

{ nvidia-smi || true; $PY -c "import torch; print(torch.__version__, torch.cuda.is_available())"; } \
  > "$OUT/machine.txt" 2>&1

if [[ $PARTS == *tests* ]]; then
  log "CUDA tests"
  $PY -m pytest -q -rs tests/tracking/test_cuda.py tests/io/test_writer.py -k "cuda or codec_hw" \
    > "$OUT/cuda-tests.txt" 2>&1
  log "CUDA tests rc=$? ($(tail -1 "$OUT/cuda-tests.txt"))"
fi

if [[ $PARTS == *bench* ]]; then
  for compile in none reduce-overhead; do
    log "bench float16 compile=$compile"
    $PY -m aotvideo bench --models "$MODELS" --sizes "$SIZES" --objects "$OBJECTS" \
      --frames "$FRAMES" --warmup 5 --device "$DEVICE" --amp --compile "$compile" \
      > "$OUT/bench-amp-$compile.md" 2> "$OUT/bench-amp-$compile.err"
    log "rc=$?"
  done
  log "bench float32"
  $PY -m aotvideo bench --models "$MODELS" --sizes "$SIZES" --objects "$OBJECTS" \
    --frames "$FRAMES" --warmup 5 --device "$DEVICE" > "$OUT/bench-fp32.md" 2> "$OUT/bench-fp32.err"
  log "rc=$?"
fi

if [[ $PARTS == *hd* ]]; then
  for codec in default hw; do
    option=() modes=overlay,alpha  # alpha: ProRes 4444, on the CPU's cores beside the GPU
    if [[ $codec == hw ]]; then option=(--track-option=--codec=hw) modes=overlay; fi
    log "editors' sizes end to end, codec $codec"
    $PY samples/bench_hd.py --sizes "$HD_SIZES" --objects 1 --frames "$HD_FRAMES" \
      --modes "$modes" --repeat "$HD_REPEAT" "${option[@]}" > "$OUT/hd-$codec.md" 2> "$OUT/hd-$codec.err"
    log "rc=$? (hw: 1 where no hardware H.264 encoder opens; hd-hw.err says which were tried)"
  done
fi

if [[ $PARTS == *train* ]]; then
  if [[ -d $DAVIS_ROOT ]]; then
    log "training burst: $STEPS steps from the packaged weights"
    timeout "${TRAIN_SECONDS:-360}" $PY -m aotvideo train real --model deaott --davis-root "$DAVIS_ROOT" \
      --init-weights aotvideo/data/deaott_real_v5.pth --steps "$STEPS" --batch-size 16 \
      --crop-size 193 --workers 4 --device "$DEVICE" --save-every 200 --keep-last 2 \
      -o gpu-train --resume auto --set data.short_edge=320 --set data.merge_prob=0.7 \
      --set lr=2e-4 > "$OUT/train.log" 2>&1
    log "training rc=$? (124: stopped at the time limit)"
    last=$(ls gpu-train/checkpoints/step_*.pt 2>/dev/null | tail -1)
    if [[ -n $last ]]; then
      $PY -m aotvideo train export "$last" "$OUT/deaott_gpu_burst.pth" --format aotvideo
      log "exported $last"
    fi
  else
    log "no DAVIS folder at $DAVIS_ROOT: training burst skipped"
  fi
fi
log "done"
