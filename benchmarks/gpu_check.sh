#!/usr/bin/env bash
# Run every notebook's code on a CUDA GPU with the offline stand-ins, the way CI runs them on a
# CPU: first as pick_model chooses (bf16 where compute capability >= 8, fp16 below), then the
# text notebooks with Bllossom-tiny loaded in 4-bit (needs bitsandbytes; for notebook 06 that is
# QLoRA: LoRA adapters over a 4-bit base), and the vision notebook on the Mllama stand-in too. Prints one line per run
# and keeps each log.    Usage: bash benchmarks/gpu_check.sh [LOG_FOLDER]
set -u
logs=${1:-/tmp/gpu-check}
mkdir -p "$logs"
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 PYTHONUNBUFFERED=1 MPLBACKEND=Agg
python3 -c "import torch, transformers; print(torch.cuda.get_device_name(0), 'capability',
torch.cuda.get_device_capability(0), 'torch', torch.__version__, 'transformers', transformers.__version__)"

# Build the three stand-ins side by side on the CPU (each one alone is single-threaded or small).
started=$SECONDS
python3 -c "from helpers.offline.tiny_chat_model import tiny_chat_model_folder as f; f()" >"$logs/build-tiny.log" 2>&1 &
for name in tiny-llava-next tiny-mllama; do
  python3 -c "from helpers.offline.tiny_vision_models import tiny_vision_model_folder as f; f('$name')" \
    >"$logs/build-$name.log" 2>&1 &
done
wait
echo "stand-ins built in $((SECONDS - started)) s"

run() {  # run LABEL NOTEBOOK [VAR=VALUE ...]: one notebook as a script, its log and exit code kept
  local label=$1 notebook=$2
  shift 2
  local begin=$SECONDS
  (cd notebooks && env OMP_NUM_THREADS=2 "$@" timeout 400 python3 -m IPython --no-banner \
    "$(basename "$notebook")") >"$logs/$label.log" 2>&1
  echo "$? $((SECONDS - begin))" >"$logs/$label.rc"
}
# The runs are independent and the stand-ins are tiny, so they share the GPU at once.
for notebook in notebooks/[0-9][0-9]_*.py; do
  run "$(basename "$notebook" .py)-as-chosen" "$notebook" &
done
for notebook in notebooks/0[1-4]_*.py notebooks/06_*.py; do
  run "$(basename "$notebook" .py)-4bit" "$notebook" BLLOSSOM_MODEL=tiny:4bit &
done
run "05_vision-mllama" notebooks/05_vision.py BLLOSSOM_MODEL=tiny-mllama &
wait

status=0
for rc_file in "$logs"/*.rc; do
  label=$(basename "$rc_file" .rc)
  read -r rc seconds <"$rc_file"
  echo "$label: exit $rc in ${seconds} s; $(grep -m1 -o 'Model: .*' "$logs/$label.log" | cut -c1-90)"
  if [ "$rc" -ne 0 ]; then status=1; grep -v '^\s*$' "$logs/$label.log" | tail -6; fi
done
exit $status
