"""Which dtype generates fastest on this CPU? Prints tokens per second for Bllossom-tiny.

    OMP_NUM_THREADS=1 python benchmarks/cpu_dtype.py

`helpers.pick_dtype` uses float32 on the CPU: on the project's CI machine (AVX2 x86-64, one
thread) it generated about 38 tokens/s against 33 for bf16 and 35 for fp16, and it is exact.
"""

from __future__ import annotations

import statistics
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from helpers.catalog import BLLOSSOM_SYSTEM_PROMPT
from helpers.offline.tiny_chat_model import tiny_chat_model_folder

NEW_TOKENS = 48


def main() -> None:
    folder = tiny_chat_model_folder()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    messages = [{"role": "system", "content": BLLOSSOM_SYSTEM_PROMPT},
                {"role": "user", "content": "블로썸은 어떤 모델이야?"}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True,
                                           return_tensors="pt")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).eval()
        model.generate(**inputs, max_new_tokens=4, do_sample=False)  # warm-up
        times = []
        for _ in range(5):
            started = time.perf_counter()
            model.generate(**inputs, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False)
            times.append(time.perf_counter() - started)
        print(f"{str(dtype):16} {NEW_TOKENS / statistics.median(times):7.1f} tokens/s (median of 5)")


if __name__ == "__main__":
    main()
