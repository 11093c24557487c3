"""What the stand-in trainers share: a fixed thread count, the full-vocabulary loss, the learning-rate
schedules and one optimiser step, so Bllossom-tiny and the vision stand-ins train the same way."""

from __future__ import annotations

import math
from contextlib import contextmanager


@contextmanager
def deterministic_torch(threads: int):
    """One fixed thread count, so the same recipe gives the same bytes (and a busy machine does
    not stall two threads waiting on each other)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def full_vocabulary_loss(hidden, head, targets, unused_log_count: float):
    """Cross-entropy over the whole vocabulary, computed from the learned output rows alone.

    Every other token has a zero row, so logit 0; together they enter the softmax as a single
    term, log(number of unused tokens). `targets` index into `head`; negative ones are skipped."""
    import torch

    chosen = targets >= 0
    logits = hidden[chosen] @ head.T
    unused = torch.full((logits.shape[0], 1), unused_log_count)
    return torch.nn.functional.cross_entropy(torch.cat([logits, unused], 1), targets[chosen])


def warmup_cosine_schedule(optimizer, warmup_steps: int, total_steps: int):
    """Linear warm-up over `warmup_steps` (none when 0), then a cosine decay to zero at `total_steps`;
    one factor for every parameter group."""
    import torch

    def factor(step: int) -> float:
        warmup = 1.0 if warmup_steps == 0 else min(1.0, (step + 1) / warmup_steps)
        return warmup * 0.5 * (1 + math.cos(math.pi * step / total_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def hold_then_decay_schedule(optimizer, total_steps: int, decay_share: float, warmup_steps: int = 0):
    """Linear warm-up over `warmup_steps` (none when 0), the full learning rate until (1 - `decay_share`)
    of the steps, then a straight line to zero at `total_steps`. A skill that training finds late
    (the vision towers start to read shape only after about 400 stage-1 steps, and keep improving
    until the end) then learns at full speed, where a cosine would be at half the rate mid-way; the
    decay still settles the weights at the end."""
    import torch

    hold = round(total_steps * (1 - decay_share))

    def factor(step: int) -> float:
        warmup = 1.0 if warmup_steps == 0 else min(1.0, (step + 1) / warmup_steps)
        return warmup * (1.0 if step < hold else max(0.0, (total_steps - step) / max(1, total_steps - hold)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def training_step(loss, optimizer, schedule) -> float:
    """Back-propagate `loss`, update the weights, advance the schedule; the loss as a number."""
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    schedule.step()
    return loss.item()
