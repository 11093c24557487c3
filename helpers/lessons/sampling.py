"""Notebook 03: the distribution `generate` samples the next token from, built by `generate`'s own code.

`next_token_distribution` runs the model once and passes its logits through the very
`LogitsProcessorList` that `model.generate(do_sample=True, ...)` builds for the same settings
(transformers' `RepetitionPenaltyLogitsProcessor`, `TemperatureLogitsWarper`, `TopKLogitsWarper`,
`TopPLogitsWarper`, in generate's order). Nothing here re-implements a knob: the lesson looks at
what transformers does, stage by stage. The rest is measurement, plotting and the slider explorer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import TutorialError

GENERATE_DEFAULT_TOP_K = 50  # what `generate(do_sample=True)` applies when top_k is not given
# Processors that cut tokens (set them to -inf) rather than reshape the scores.
FILTERS = ("TopK", "TopP", "MinP", "Typical", "Epsilon", "Eta", "TopH")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_knobs(**knobs) -> None:
    """The one set of rules for sampling settings, used by `SamplingSettings` and by
    `check_generate_kwargs` (so `reply_text` refuses what the sampling lesson refuses).

    Takes any of temperature, top_k (None = off), top_p and repetition_penalty; raises a
    TutorialError that gives the valid range for the first one out of it."""
    if "temperature" in knobs:
        t = knobs["temperature"]
        if _is_number(t) and t == 0:
            raise TutorialError(
                "temperature=0 is not a sampling setting. To always take the most likely token, use "
                "greedy decoding: generate(..., do_sample=False). For sampling, temperature must be "
                "greater than 0 (1.0 leaves the logits as they are; the card uses 0.6).")
        if not _is_number(t) or t < 0:
            raise TutorialError(
                f"temperature={t!r} is out of range: it must be a number greater than 0 (1.0 leaves "
                "the logits as they are, lower is sharper, higher is flatter; the card uses 0.6). "
                "For greedy decoding use generate(..., do_sample=False).")
    k = knobs.get("top_k")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 0):
        raise TutorialError(
            f"top_k={k!r} is out of range: it must be a whole number of at least 1 (how many of "
            f"the most likely tokens to keep), or 0 or None to switch top-k off, as in generate. "
            f"generate's default is {GENERATE_DEFAULT_TOP_K}.")
    if "top_p" in knobs:
        p = knobs["top_p"]
        if not _is_number(p) or not 0 < p <= 1:
            raise TutorialError(
                f"top_p={p!r} is out of range: it must be in (0, 1], the share of probability the "
                "kept tokens must reach. 1.0 switches top-p off; the card uses 0.9.")
    if "repetition_penalty" in knobs:
        r = knobs["repetition_penalty"]
        if not _is_number(r) or r <= 0:
            raise TutorialError(
                f"repetition_penalty={r!r} is out of range: it must be a number greater than 0. 1.0 "
                "switches it off, above 1 makes tokens already in the text less likely (the card "
                "uses 1.1), below 1 makes them more likely.")


def check_max_new_tokens(value) -> int:
    """A positive whole number of new tokens, or a TutorialError that says so."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TutorialError(f"max_new_tokens must be a whole number such as 64, not {value!r}.")
    if value <= 0:
        raise TutorialError(f"max_new_tokens is {value}, so the model may not write anything. Use a "
                            "positive number such as 64 (short answers) or 512 (long ones).")
    return value


def check_generate_kwargs(generate_kwargs: dict, generation_config=None) -> None:
    """Apply `check_knobs` to keyword arguments meant for `model.generate`.

    temperature, top_k and top_p are checked when generate will sample (`do_sample` as given,
    else the model's generation config: Bllossom's samples by default); repetition_penalty always.
    None means "the model's default" there, so it passes."""
    do_sample = generate_kwargs.get("do_sample")
    if do_sample is None:
        do_sample = bool(getattr(generation_config, "do_sample", False))
    names = ("temperature", "top_k", "top_p", "repetition_penalty") if do_sample else ("repetition_penalty",)
    check_knobs(**{name: generate_kwargs[name] for name in names if generate_kwargs.get(name) is not None})


@dataclass(frozen=True)
class SamplingSettings:
    """The four knobs of sampling, checked before they reach transformers.

    `top_k=None` or `top_k=0` switches top-k off (0 is how `generate` spells "off"; the settings
    keep None). Its default is 50 because that is what `generate` applies when sampling without a
    `top_k` (a filter most people never asked for).
    """

    temperature: float = 1.0
    top_k: int | None = GENERATE_DEFAULT_TOP_K
    top_p: float = 1.0
    repetition_penalty: float = 1.0

    def __post_init__(self):
        check_knobs(temperature=self.temperature, top_k=self.top_k, top_p=self.top_p,
                    repetition_penalty=self.repetition_penalty)
        if self.top_k == 0:  # generate's "off"; one spelling of it here, so settings compare equal
            object.__setattr__(self, "top_k", None)

    def generate_kwargs(self) -> dict:
        """The keyword arguments that make `model.generate` sample with exactly these settings."""
        return dict(do_sample=True, temperature=float(self.temperature), top_k=self.top_k or 0,
                    top_p=float(self.top_p), repetition_penalty=float(self.repetition_penalty))

    def __str__(self) -> str:
        top_k = "off" if self.top_k is None else self.top_k
        return (f"temperature={self.temperature:g}, top_k={top_k}, top_p={self.top_p:g}, "
                f"repetition_penalty={self.repetition_penalty:g}")


CARD_SETTINGS = SamplingSettings(temperature=0.6, top_p=0.9, repetition_penalty=1.1)


def settings_from(settings: SamplingSettings | None = None, **knobs) -> SamplingSettings:
    """`settings` as given, or new settings from keyword knobs (not both)."""
    if settings is not None and knobs:
        raise TutorialError("Give either settings=SamplingSettings(...) or the knobs as keywords, not both.")
    if settings is not None:
        return settings
    unknown = set(knobs) - {"temperature", "top_k", "top_p", "repetition_penalty"}
    if unknown:
        raise TutorialError(f"Unknown sampling knob(s) {sorted(unknown)}: use temperature, top_k, "
                            "top_p and repetition_penalty.")
    return SamplingSettings(**knobs)


def _input_tensors(model, inputs, new_tokens: int = 0):
    """input_ids (and attention_mask) on the model's device from a tensor or a BatchEncoding,
    refused when empty or when they and `new_tokens` do not fit the model's context."""
    import torch

    if isinstance(inputs, torch.Tensor):
        input_ids, attention_mask = inputs, None
    else:
        input_ids, attention_mask = inputs["input_ids"], inputs.get("attention_mask")
    if input_ids.dim() == 1:
        input_ids = input_ids[None]
    if input_ids.shape[0] != 1:
        raise TutorialError(f"Give one prompt at a time (got a batch of {input_ids.shape[0]}).")
    length = input_ids.shape[-1]
    if length == 0:
        raise TutorialError("The prompt has no tokens, so there is nothing to predict the next token "
                            "from. Give some text, e.g. tokenizer.apply_chat_template(messages, "
                            "add_generation_prompt=True, return_dict=True, return_tensors='pt').")
    context = getattr(model.config, "max_position_embeddings", None)
    if context and length + new_tokens > context:
        asks = f" and asks for {new_tokens:,} new ones ({length + new_tokens:,} in all)" if new_tokens else ""
        raise TutorialError(f"The prompt is {length:,} tokens{asks}, but the model reads at most "
                            f"{context:,}; past that its answers fall apart. Shorten the prompt"
                            + (" or ask for fewer new tokens." if new_tokens else "."))
    input_ids = input_ids.to(model.device)
    if attention_mask is not None:
        attention_mask = attention_mask.reshape(input_ids.shape).to(model.device)
    return input_ids, attention_mask


def sampling_processors(model, settings: SamplingSettings, input_ids, attention_mask=None):
    """The `LogitsProcessorList` that `model.generate(**settings.generate_kwargs())` builds.

    It goes through generate's own steps (merge with the model's generation config, then
    `_get_logits_processor`), so the chain has generate's processors, in generate's order. Those
    steps are private `GenerationMixin` methods that move between transformers releases; when one
    has moved, the learner gets the tested range and the upgrade command, not an AttributeError.
    """
    from ..models.versions import private_api_message

    try:
        config, _ = model._prepare_generation_config(None, **settings.generate_kwargs())
        model._prepare_special_tokens(config, True, device=input_ids.device)
        return model._get_logits_processor(
            generation_config=config, input_ids_seq_length=input_ids.shape[-1], encoder_input_ids=input_ids,
            device=input_ids.device, model_kwargs={"attention_mask": attention_mask})
    except (AttributeError, TypeError) as error:  # a method gone, renamed or with new parameters
        raise TutorialError(private_api_message(
            "transformers", "generate's private logits-processor steps (GenerationMixin._get_logits_processor)",
            f"{type(error).__name__}: {error}")) from error


def apply_processors(processors, input_ids, logits) -> list[tuple[str, object]]:
    """Scores after each processor in turn: [("logits", raw), (processor name, scores), ...].

    Calling them one by one is what `LogitsProcessorList.__call__` does; we only keep each stage.
    """
    stages = [("logits", logits)]
    scores = logits
    for processor in processors:
        scores = processor(input_ids, scores.clone())
        stages.append((type(processor).__name__, scores))
    return stages


@dataclass
class NextTokenDistribution:
    """One prompt's next-token scores at every stage of generate's chain."""

    settings: SamplingSettings
    input_ids: object  # (1, length) tensor
    stages: list[tuple[str, object]]  # (name, 1-D float32 scores), raw logits first
    processors: object = field(repr=False, default=None)

    @property
    def logits(self):
        """The model's raw logits (float32, as generate upcasts them)."""
        return self.stages[0][1]

    @property
    def scores(self):
        """The processed scores: what generate returns with output_scores=True."""
        return self.stages[-1][1]

    @property
    def unfiltered_probs(self):
        """Probabilities before top-k and top-p cut anything (after penalty and temperature)."""
        import torch

        unfiltered = [scores for name, scores in self.stages if not name.startswith(FILTERS)]
        return torch.softmax(unfiltered[-1], dim=-1)

    @property
    def probs(self):
        """The probabilities generate samples from: softmax of the processed scores."""
        import torch

        return torch.softmax(self.scores, dim=-1)

    def stage(self, name: str):
        """Scores right after the processor whose class name contains `name` ("logits" for raw)."""
        matches = [scores for stage, scores in self.stages if name in stage]
        if not matches:
            raise TutorialError(f"No stage named like '{name}'. Stages: {[s for s, _ in self.stages]}.")
        return matches[0]

    @property
    def kept(self) -> int:
        """How many tokens can still be drawn (the filters set the others to -inf)."""
        return int((self.probs > 0).sum())

    @property
    def entropy(self) -> float:
        """Entropy of the sampling distribution, in nats (0 = no choice at all)."""
        return entropy_nats(self.probs)

    def top(self, tokenizer, n: int = 10) -> list[dict]:
        """The n most likely tokens: label, id, raw logit and sampling probability."""
        probs = self.probs
        values, ids = probs.topk(n)
        return [{"token": token_label(tokenizer, i), "id": i, "logit": round(float(self.logits[i]), 3),
                 "p": round(float(v), 4)} for v, i in zip(values.tolist(), ids.tolist())]


def entropy_nats(probs) -> float:
    import torch

    logp = torch.log(probs.clamp_min(torch.finfo(probs.dtype).tiny))
    return float(-(probs * logp).sum(-1).mean())


def next_token_logits(model, input_ids, attention_mask=None):
    """The model's last-position logits as generate sees them (float32, one forward pass)."""
    import torch

    with torch.no_grad():
        output = model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=1)
    return output.logits[:, -1, :].to(dtype=torch.float32)


def next_token_distribution(model, inputs, settings: SamplingSettings | None = None,
                            **knobs) -> NextTokenDistribution:
    """The distribution `generate` would sample the next token from, for `inputs` and the settings.

    `inputs`: the `BatchEncoding` from `apply_chat_template(..., return_dict=True)` (or ids).
    Knobs: temperature, top_k (None = off), top_p, repetition_penalty, as in `generate`.
    """
    settings = settings_from(settings, **knobs)
    input_ids, attention_mask = _input_tensors(model, inputs)
    processors = sampling_processors(model, settings, input_ids, attention_mask)
    logits = next_token_logits(model, input_ids, attention_mask)
    stages = apply_processors(processors, input_ids, logits)
    return NextTokenDistribution(settings, input_ids, [(name, s[0]) for name, s in stages], processors)


def token_label(tokenizer, token_id: int) -> str:
    """A readable label for one token: its text with spaces shown as '·' (a glyph the bundled
    Hangul font has), or its raw bytes in <..> (Llama-3 splits some Hangul syllables into byte
    pieces that are not text on their own)."""
    text = tokenizer.decode([token_id])
    if "\ufffd" not in text:
        return text.replace(" ", "·").replace("\n", "\\n") or repr(text)
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    to_byte = {char: byte for byte, char in bytes_to_unicode().items()}
    piece = tokenizer.convert_ids_to_tokens(token_id)
    return "<" + " ".join(f"{to_byte[c]:02x}" for c in piece if c in to_byte) + ">"


# ----------------------------------------------------------------------------------------------
# Measured over many samples


def distinct_n(sequences: list[list[int]], n: int) -> float:
    """Distinct-n: unique n-grams divided by all n-grams, over all samples together (1 = no
    n-gram repeats anywhere, near 0 = the samples say the same thing)."""
    grams = [tuple(seq[i: i + n]) for seq in sequences for i in range(len(seq) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def sample_statistics(model, inputs, settings: SamplingSettings, samples: int, max_new_tokens: int,
                      seed: int = 0, eos_token_id=None) -> dict:
    """Draw `samples` answers with `generate` and measure them.

    distinct-1/2 over the generated tokens; mean log-probability of the drawn tokens under the
    model's *raw* distribution (how likely the model finds the text); mean entropy of the
    distribution each token was actually drawn from (how much choice sampling had).
    """
    import torch
    from transformers import set_seed

    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise TutorialError(f"samples={samples!r}: statistics need at least one sample; use a whole number "
                            "such as 16 (more samples, steadier numbers, longer wait).")
    check_max_new_tokens(max_new_tokens)
    if not isinstance(settings, SamplingSettings):
        raise TutorialError("settings must be a SamplingSettings(...), e.g. sampling.CARD_SETTINGS.")
    input_ids, attention_mask = _input_tensors(model, inputs, max_new_tokens)
    set_seed(seed)
    with torch.no_grad():
        out = model.generate(input_ids=input_ids, attention_mask=attention_mask, **settings.generate_kwargs(),
                             num_return_sequences=samples, max_new_tokens=max_new_tokens,
                             eos_token_id=eos_token_id, output_scores=True, output_logits=True,
                             return_dict_in_generate=True)
    new = out.sequences[:, input_ids.shape[-1]:]
    stops = set([eos_token_id] if isinstance(eos_token_id, int) else eos_token_id or [])
    # A sample is live up to and including its first stop token; later positions are padding.
    live = torch.ones_like(new, dtype=torch.bool)
    for row in range(new.shape[0]):
        for col, token in enumerate(new[row].tolist()):
            if token in stops:
                live[row, col + 1:] = False
                break
    logprobs, entropies = [], []
    for step, (raw, processed) in enumerate(zip(out.logits, out.scores)):
        drawn = new[:, step]
        keep = live[:, step]
        logprobs.append(torch.log_softmax(raw.float(), -1).gather(1, drawn[:, None])[:, 0][keep])
        probs = torch.softmax(processed.float(), -1)
        logp = torch.log(probs.clamp_min(torch.finfo(probs.dtype).tiny))
        entropies.append(-(probs * logp).sum(-1)[keep])
    texts = [[t for t, ok in zip(row.tolist(), mask.tolist()) if ok and t not in stops]
             for row, mask in zip(new, live)]
    return {"distinct-1": distinct_n(texts, 1), "distinct-2": distinct_n(texts, 2),
            "mean log-prob": float(torch.cat(logprobs).mean()), "entropy": float(torch.cat(entropies).mean()),
            "tokens": int(live.sum()), "samples": texts}


# ----------------------------------------------------------------------------------------------
# Plots (Hangul labels through koreanize-matplotlib)


def plot_top_tokens(distributions: dict, tokenizer, n: int = 10):
    """One bar chart per distribution (e.g. per temperature): the n most likely tokens."""
    import matplotlib.pyplot as plt

    from ..plotting import use_hangul_font

    use_hangul_font()
    figure, axes = plt.subplots(1, len(distributions), figsize=(3.6 * len(distributions), 3.8),
                                sharey=True, squeeze=False)
    for ax, (title, dist) in zip(axes[0], distributions.items()):
        rows = dist.top(tokenizer, n)
        bars = ax.barh(range(len(rows))[::-1], [r["p"] for r in rows], color="tab:pink")
        ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
        ax.set_yticks(range(len(rows))[::-1], [r["token"] for r in rows])
        ax.set_xlim(0, 1.18)
        ax.set_title(f"{title}\nentropy {dist.entropy:.2f} nats", fontsize=10)
        ax.set_xlabel("probability (확률)")
    figure.tight_layout()
    return figure


def plot_cumulative_cut(dist: NextTokenDistribution, cuts: dict[str, int]):
    """The sorted cumulative probability before the filters (after temperature and penalty), with
    a vertical line where each filter cuts. `cuts` maps a label to how many tokens it kept."""
    import matplotlib.pyplot as plt

    from ..plotting import use_hangul_font

    use_hangul_font()
    cumulative = dist.unfiltered_probs.sort(descending=True).values.cumsum(0).tolist()
    figure, ax = plt.subplots(figsize=(8, 3.8))
    ax.plot(range(1, len(cumulative) + 1), cumulative, color="tab:purple")
    ax.set_xscale("log")
    for (label, kept), style in zip(cuts.items(), ["--", "-.", ":", (0, (5, 1))]):
        ax.axvline(kept, linestyle=style, color=f"C{list(cuts).index(label) + 1}",
                   label=f"{label}: keeps {kept} (mass {cumulative[kept - 1]:.3f})")
    ax.set_xlabel("rank of token, most likely first (토큰 순위, 로그 축)")
    ax.set_ylabel("cumulative probability (누적 확률)")
    ax.set_title("Where top-k and top-p cut (top-k와 top-p가 자르는 곳)")
    ax.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    return figure


def plot_penalty(before, after, context_ids, tokenizer, n: int = 12):
    """Logits of the n best tokens before and after the repetition penalty; tokens already in the
    context are marked (*) because only those change."""
    import matplotlib.pyplot as plt

    from ..plotting import use_hangul_font

    use_hangul_font()
    ids = before.topk(n).indices.tolist()
    context = set(int(i) for i in context_ids)
    labels = [token_label(tokenizer, i) + (" *" if i in context else "") for i in ids]
    positions = range(len(ids))
    figure, ax = plt.subplots(figsize=(9, 3.8))
    ax.bar([x - 0.2 for x in positions], [float(before[i]) for i in ids], 0.4, label="before (전)", color="tab:gray")
    ax.bar([x + 0.2 for x in positions], [float(after[i]) for i in ids], 0.4, label="after (후)", color="tab:red")
    ax.set_xticks(list(positions), labels, rotation=45, ha="right")
    ax.set_ylabel("logit")
    ax.set_title("Repetition penalty: * = already in the context (이미 문맥에 있는 토큰)")
    ax.legend()
    figure.tight_layout()
    return figure


def plot_sweeps(sweeps: dict[str, list[dict]], card: dict | None = None):
    """Measured statistics against each swept knob: one column per knob, one row per statistic."""
    import matplotlib.pyplot as plt

    from ..plotting import use_hangul_font

    use_hangul_font()
    statistics = [("distinct-2", "distinct-2 (다양성)"), ("mean log-prob", "mean log-prob (평균 로그 확률)"),
                  ("entropy", "entropy, nats (엔트로피)")]
    figure, axes = plt.subplots(len(statistics), len(sweeps), figsize=(5 * len(sweeps), 7.5),
                                sharex="col", squeeze=False)
    for column, (knob, rows) in enumerate(sweeps.items()):
        xs = [row[knob] for row in rows]
        for line, (key, label) in enumerate(statistics):
            ax = axes[line][column]
            ax.plot(xs, [row[key] for row in rows], marker="o", label=key)
            if key == "distinct-2":
                ax.plot(xs, [row["distinct-1"] for row in rows], marker="s", linestyle="--", label="distinct-1")
                ax.legend(fontsize=8)
            if card is not None:
                ax.axhline(card[key], color="tab:red", linestyle=":", linewidth=1,
                           label="card 0.6/0.9/1.1")
                if line == 0:
                    ax.legend(fontsize=8)
            if column == 0:
                ax.set_ylabel(label)
        axes[-1][column].set_xlabel(knob)
    figure.suptitle("Measured over many samples (샘플 여러 개로 측정)")
    figure.tight_layout()
    return figure


# ----------------------------------------------------------------------------------------------
# The slider explorer


class SamplingExplorer:
    """Sliders for the four knobs that redraw the next-token distribution and draw a sample.

    `widget` is what a notebook displays; `update(...)` is the redraw the sliders call, so a
    test (or CI, headless) can drive it directly.
    """

    def __init__(self, model, tokenizer, inputs, top_n: int = 12, new_tokens: int = 24, seed: int = 0):
        import ipywidgets as widgets

        self.model, self.tokenizer, self.inputs = model, tokenizer, inputs
        self.top_n, self.new_tokens, self.seed = top_n, new_tokens, seed
        card = CARD_SETTINGS
        # The card's terminators, where the tokenizer has them, so a sample stops like a chat answer.
        self.terminators = [i for i in tokenizer.convert_tokens_to_ids(["<|end_of_text|>", "<|eot_id|>"])
                            if i is not None and i != tokenizer.unk_token_id] or None
        style = {"description_width": "150px"}
        common = dict(style=style, layout=widgets.Layout(width="460px"), continuous_update=False)
        self.sliders = {
            "temperature": widgets.FloatSlider(value=card.temperature, min=0.05, max=2.0, step=0.05,
                                               description="temperature (온도)", **common),
            "top_k": widgets.IntSlider(value=card.top_k, min=0, max=200, step=1,
                                       description="top-k (0 = off)", **common),
            "top_p": widgets.FloatSlider(value=card.top_p, min=0.05, max=1.0, step=0.05,
                                         description="top-p", **common),
            "repetition_penalty": widgets.FloatSlider(value=card.repetition_penalty, min=0.5, max=2.0,
                                                      step=0.05, description="repetition penalty", **common),
        }
        self.output = widgets.Output()
        self.last = None  # (distribution, sample) of the latest redraw
        for slider in self.sliders.values():
            slider.observe(lambda change: self._redraw(), names="value")
        self.widget = widgets.VBox([*self.sliders.values(), self.output])

    def _redraw(self):
        values = {name: slider.value for name, slider in self.sliders.items()}
        return self.update(**values)

    def update(self, temperature: float, top_k: int | None, top_p: float, repetition_penalty: float):
        """Redraw for these settings; returns (distribution, sampled text)."""
        import matplotlib.pyplot as plt
        import torch
        from IPython.display import display
        from transformers import set_seed

        settings = SamplingSettings(temperature, top_k, top_p, repetition_penalty)
        dist = next_token_distribution(self.model, self.inputs, settings)
        input_ids, attention_mask = _input_tensors(self.model, self.inputs)
        set_seed(self.seed)
        with torch.no_grad():
            out = self.model.generate(input_ids=input_ids, attention_mask=attention_mask,
                                      **settings.generate_kwargs(), max_new_tokens=self.new_tokens,
                                      eos_token_id=self.terminators)
        text = self.tokenizer.decode(out[0, input_ids.shape[-1]:], skip_special_tokens=True)
        figure = plot_top_tokens({"": dist}, self.tokenizer, self.top_n)
        figure.set_size_inches(7.5, 4.2)
        figure.axes[0].set_title(f"{settings}\n{dist.kept:,} tokens can be drawn (뽑힐 수 있는 토큰 "
                                 f"{dist.kept:,}개) · entropy {dist.entropy:.2f} nats", fontsize=9)
        figure.tight_layout()
        self.output.clear_output(wait=True)
        with self.output:
            display(figure)
            print(f"sample (seed {self.seed}):", text)
        plt.close(figure)
        self.last = dist, text
        return dist, text
