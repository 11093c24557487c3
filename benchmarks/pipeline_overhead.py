"""How much time does `pipeline("text-generation")` add on top of `model.generate`?

    OMP_NUM_THREADS=1 python benchmarks/pipeline_overhead.py            # 10 repeats x 5 chats
    OMP_NUM_THREADS=1 python benchmarks/pipeline_overhead.py --repeats 20
    OMP_NUM_THREADS=1 python benchmarks/pipeline_overhead.py --max-new-tokens 4   # fixed cost only

Loads the model `helpers.pick_model()` chooses (Bllossom-tiny on a CPU), then answers the same
chats with greedy decoding both ways, interleaved, and prints medians: time to first token,
total time per reply, tokens per second, and the pipeline's overhead as the median of
call-by-call differences. Both ways must write identical replies, or the comparison is void.
Notebook 02 runs the same comparison with fewer repeats.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import helpers
from helpers.lessons import chat, timing
from helpers.offline.tiny_chat_model import load_corpus


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="timed rounds over all chats")
    parser.add_argument("--chats", type=int, default=5, help="corpus questions used as chats")
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help="cap the replies (default: the card's, at most 256); a few tokens "
                             "isolate the pipeline's fixed cost from generation time")
    args = parser.parse_args(argv)

    import torch
    from transformers import pipeline

    choice = helpers.pick_model()
    model, tokenizer = helpers.load_model(choice)
    generator = pipeline("text-generation", model=model, tokenizer=tokenizer)
    greedy = dict(do_sample=False, eos_token_id=chat.terminator_ids(tokenizer, choice),
                  max_new_tokens=chat.card_generation_settings(
                      choice, cap_new_tokens=args.max_new_tokens or 256)["max_new_tokens"])
    questions = [pair["question"] for pair in load_corpus()][:: max(1, 260 // args.chats)][: args.chats]
    chats = [chat.card_messages(choice, question) for question in questions]

    def with_pipeline(messages, streamer):
        return generator(messages, streamer=streamer, **greedy)[0]["generated_text"][-1]["content"]

    def with_generate(messages, streamer):
        inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True,
                                               return_tensors="pt").to(model.device)
        output = model.generate(**inputs, streamer=streamer, **greedy)
        return tokenizer.decode(output[0, inputs["input_ids"].shape[-1]:], skip_special_tokens=True)

    rows, samples = timing.compare_speed({"pipeline": with_pipeline, "generate": with_generate},
                                         chats, repeats=args.repeats)
    pairs = list(zip(samples["pipeline"], samples["generate"]))
    if any(a["text"] != b["text"] or a["new_tokens"] != b["new_tokens"] for a, b in pairs):
        print("The two ways wrote different replies; the timings are not comparable.", file=sys.stderr)
        return 1

    print(f"\nmodel {choice.name} on {model.device}, torch threads {torch.get_num_threads()} "
          f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), "
          f"{len(chats)} chats x {args.repeats} repeats = {len(pairs)} paired calls, "
          f"max_new_tokens={greedy['max_new_tokens']}\n")
    print(helpers.table_text(rows))
    total = timing.median_overhead_ms(samples, "pipeline", "generate")
    first = timing.median_overhead_ms(samples, "pipeline", "generate", key="first_token_s")
    generate_ms = 1000 * statistics.median(s["total_s"] for s in samples["generate"])
    print(f"\npipeline overhead per reply (median of paired differences): {total:+.1f} ms "
          f"({100 * total / generate_ms:+.1f}% of a generate call)")
    print(f"pipeline overhead before the first token:                   {first:+.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
