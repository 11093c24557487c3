"""How long notebook 03's many-samples measurement takes per setting, for a few sample counts.

    OMP_NUM_THREADS=1 python benchmarks/sampling_sweep_cost.py

Prints seconds per setting on this machine's model (Bllossom-tiny on a CPU), so the sample
count in the notebook can be chosen to keep CI fast. The cost is dominated by the
(samples x 128,256) softmax, sort (top-p) and multinomial of every step, not by the tiny model.
"""

from __future__ import annotations

import time

import torch

import helpers
from helpers.lessons import sampling


def main() -> None:
    torch.set_num_threads(1)
    model, tokenizer = helpers.load_model(helpers.pick_model(verbose=False))
    messages = [{"role": "system", "content": helpers.BLLOSSOM_SYSTEM_PROMPT},
                {"role": "user", "content": "한국에서 가 볼 만한 곳은?"}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True,
                                           return_tensors="pt").to(model.device)
    eos = [tokenizer.convert_tokens_to_ids(t) for t in ("<|end_of_text|>", "<|eot_id|>")]
    settings = {"temperature 1, no filters": sampling.SamplingSettings(top_k=None),
                "card 0.6/0.9/1.1": sampling.CARD_SETTINGS}
    rows = []
    for samples in (6, 12, 24):
        for name, setting in settings.items():
            started = time.perf_counter()
            stats = sampling.sample_statistics(model, inputs, setting, samples, 16, eos_token_id=eos)
            rows.append({"samples": samples, "new tokens": 16, "setting": name,
                         "seconds": round(time.perf_counter() - started, 2),
                         "distinct-2": round(stats["distinct-2"], 3), "entropy": round(stats["entropy"], 3)})
    print(helpers.table_text(rows))


if __name__ == "__main__":
    main()
