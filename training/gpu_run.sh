#!/usr/bin/env bash
# The shipped encoder's GPU run, as sent to a lent GPU machine; tried on the CPU first
# (DEVICE=cpu MINUTES=0.5 PARTS=data/pack/part-00.npz OUT=/tmp/gpu_try \
#  EXTRA="--p 8 --k 2 --limit-images 1000 --holdout-identities 50 --threads 1" bash training/gpu_run.sh train:
#  three one-epoch runs; with 4000 images an epoch outlasts the hard stop).
#
#   bash training/gpu_run.sh check   # environment, GPU embedding speed, a 20-step smoke run
#   bash training/gpu_run.sh train   # three runs side by side on one GPU, each fitted to MINUTES
#   bash training/gpu_run.sh v3      # encoder v3 ablations: the shipped weights fine-tuned with CosFace,
#                                    # + the unlabelled faces, + those and webcam degradations
#
# Needs the packed training set in data/pack (python -m training pack ...: WebP in parts
# small enough to travel one per call beside the working tree; sizes in README) and nothing
# from ../shared. Results
# land in $OUT: one tar per run (float16 best weights, log.jsonl, config.json, train.log) for
# `python -m training export` on the CPU machine, which adds LFW View 1 and the CPU figures.
set -uo pipefail
OUT=${OUT:-runs/gpu}
MINUTES=${MINUTES:-6.5}   # training time per run; each run is stopped hard 2 minutes later
DEVICE=${DEVICE:-cuda}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
mkdir -p "$OUT"
parts=(${PARTS:-data/pack/part-*.npz})  # PARTS: another glob, e.g. one part for a CPU try
echo "packed parts here: ${parts[*]}"

# The base recipe (the "scratch" run, whose epoch 73 ships, exported with mirror-averaged
# encodings): batch-hard triplet (margin 0.2) + 2 x cosine to centred dlib encodings + 20 x
# the relational distance term, EMA weights; P x K = 128 x 4 on a GPU. "heavy" doubles both
# teacher weights.
recipe=(--teacher packed --teacher-weight 2 --teacher-distance-weight 20 --ema-decay 0.999
        --p 128 --k 4 --lr 2e-3 --warmup-steps 300 --threads 4 --device "$DEVICE")
# shellcheck disable=SC2206  # EXTRA is flags, split on purpose (e.g. "--p 8 --k 2 --limit-images 4000" for a CPU try)
recipe+=(${EXTRA:-})

runs=/tmp/faceapp-runs
launch() {  # name, then the run's own flags: one run fitted to MINUTES, stopped hard 2 minutes later
  local name=$1; shift
  local limit
  limit=$(python -c "print(int($MINUTES * 60 + 120))")
  mkdir -p "$runs/$name"
  timeout "$limit" python -m training train "${parts[@]}" "${recipe[@]}" --fit-minutes "$MINUTES" \
    --max-minutes "$(python -c "print($MINUTES + 0.5)")" --out "$runs/$name" "$@" > "$runs/$name/train.log" 2>&1
  echo "$name exited with $?" >> "$runs/$name/train.log"
}
send_back() {  # each run's float16 best weights, log and config as one tar in $OUT
  for run in "$runs"/*/; do
    name=$(basename "$run")
    python - "$run" <<'EOF'
import sys, torch
from pathlib import Path
run = Path(sys.argv[1])
if (run / "best.pt").exists():  # float16 so that each run's tar stays under 16 MiB
    state = torch.load(run / "best.pt", map_location="cpu", weights_only=False)
    state["model"] = {k: v.half() if v.is_floating_point() else v for k, v in state["model"].items()}
    torch.save(state, run / "best-fp16.pt")
EOF
    tar cf "$OUT/$name.tar" -C "$runs" --exclude='*/checkpoint.pt*' --exclude='*/best.pt' "$name"
    tail -3 "$run/train.log"
  done
}

case ${1:-} in
check)
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/gpu.txt"
  python -c "import torch, cv2, numpy; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'cv2', cv2.__version__, 'numpy', numpy.__version__)" | tee -a "$OUT/gpu.txt"
  python benchmarks/bench_embed.py --crops "${parts[0]}" --repeats 10 2>&1 | tee "$OUT/bench_embed.txt"
  python -m training train "${parts[0]}" "${recipe[@]}" --epochs 1 --steps-per-epoch 20 --out /tmp/smoke 2>&1 | tee "$OUT/smoke.txt"
  ;;
train)
  mkdir -p "$runs"
  # The shipped recipe from scratch (the control), the same with the CosFace term from the
  # start, and the shipped encoder's own recipe: the scratch weights fine-tuned with the
  # CosFace term (3 epochs of that on 2 CPU cores made the shipped encoder, README; here with
  # the GPU's full P x K and more epochs). No wider tower: none keeps the
  # 10 ms-a-face target with the mirror pass on the slow EPYC (docs/training-runs.md). The fine-tune
  # needs the scratch weights on the machine: runs/ is ignored by git, so pass
  # runs/gpu/scratch/best-fp16.pt in the device call's carry list (or INIT=another file).
  cosface=(--cosface-weight 1 --cosface-margin 0.25 --cosface-scale 30)
  launch scratch --seed 0 &
  launch scratch-cosface --seed 1 "${cosface[@]}" &
  if [ -f "${INIT:-runs/gpu/scratch/best-fp16.pt}" ]; then
    launch finetune-cosface --seed 2 "${cosface[@]}" --init "${INIT:-runs/gpu/scratch/best-fp16.pt}" \
      --lr 5e-4 --warmup-steps 100 &
  fi
  wait
  send_back
  ;;
v3)
  # Encoder v3's ablations, each the shipped encoder (assets/faceapp-encoder.pt, in the working
  # tree) fine-tuned with the CosFace recipe of its last stage: as it was (the control), with
  # the unlabelled UTKFace faces in the teacher terms, and with those and the webcam
  # degradations. Needs the unlabelled faces packed with their teacher encodings in
  # data/pack-utk (python -m training pack <prepare --unlabelled output> --teacher
  # ../shared/datasets/teacher-dlib-utkface.npz --out data/pack-utk), sent beside data/pack.
  mkdir -p "$runs"
  v3=(--init assets/faceapp-encoder.pt --lr 5e-4 --warmup-steps 100 --ema-decay 0.998
      --cosface-weight 1 --cosface-margin 0.25 --cosface-scale 30)
  unlabelled=(--unlabelled "${UNLABELLED:-data/pack-utk/part-*.npz}" --unlabelled-teacher packed --unlabelled-batch "${UNLABELLED_BATCH:-256}")
  launch v3-control --seed 0 "${v3[@]}" &
  launch v3-unlabelled --seed 0 "${v3[@]}" "${unlabelled[@]}" &
  launch v3-unlabelled-webcam --seed 0 "${v3[@]}" "${unlabelled[@]}" --degrade 0.5 &
  wait
  send_back
  ;;
*)
  echo "usage: bash training/gpu_run.sh check|train|v3" >&2
  exit 2
  ;;
esac
