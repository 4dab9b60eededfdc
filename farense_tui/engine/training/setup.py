"""What a run trains: the base model with LoRA layers, the data splits and their step order, the
learning-rate schedule and the optimizer.

All mlx-lm's pieces (loading, LoRA layers, datasets, gradient checkpointing, build_schedule) except
the step order, which is ours (batching.py) so a resume can start mid-epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten
from mlx_lm.tuner.trainer import grad_checkpoint
from mlx_lm.tuner.utils import build_schedule

from farense_tui.engine.data.masking import masking_note
from farense_tui.engine.errors import UserError
from farense_tui.engine.models.loading import add_lora, describe_base, load_base
from farense_tui.engine.profiles.profile import Profile
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.events import EventWriter
from farense_tui.engine.runs.run_folder import ADAPTER_WEIGHTS
from farense_tui.engine.training.batching import StepOrder
from farense_tui.engine.training.checkpoint_writer import adapter_config
from farense_tui.engine.training.splits import load_splits


@dataclass
class TrainingSetup:
    model: (
        nn.Module
    )  # the base with LoRA layers (or, full, its last blocks); only those are trainable
    tokenizer: object  # saved with a full fine-tune's model folders
    adapter_config: dict  # adapter_config.json for every adapter this run saves
    train_set: object  # mlx-lm datasets of (tokens, prompt offset)
    valid_set: object
    order: StepOrder
    total_steps: int
    optimizer: optim.Optimizer
    masking_note: str | None  # text data under mask_prompt: said once, when the run starts


def build_setup(cfg: RunConfig, events: EventWriter) -> TrainingSetup:
    """Load and prepare everything; warns (as events) about a schedule or data that will not do what
    was meant."""
    p = cfg.profile
    mx.random.seed(p.seed)
    model, tokenizer = load_base(cfg.model, p.train_precision)
    if p.train_precision != p.base_precision:
        events.emit(
            "note",
            kind="model",
            message=(
                f"full fine-tuning trains float weights: the base is loaded as "
                f"{p.train_precision}, not "
                f"{p.base_precision} (quantized weights cannot be trained); its model folders are "
                f"{p.train_precision}"
            ),
        )
    num_layers, lora = add_lora(model, p)
    if cfg.init_adapter:
        start_from_adapter(model, Path(cfg.init_adapter))
    events.emit("note", kind="model", message=describe_base(model))
    if p.grad_checkpoint:
        grad_checkpoint(model.layers[0])  # mlx-lm's: blocks recompute activations in backward
    train_set, valid_set, formats = load_splits(
        Path(cfg.data), tokenizer, p.mask_prompt, p.objective
    )
    # A pair's length is its longer reply's (PreferenceSet.length), a single example's its tokens.
    length = getattr(train_set, "length", lambda i: len(train_set[i][0]))
    lengths = [length(i) for i in range(len(train_set))]
    order = StepOrder(lengths, p.effective_batch, p.seed)
    total_steps = p.iters or p.epochs * order.steps_per_epoch
    events.emit("note", kind="schedule", message=schedule_note(p, total_steps))
    truncated = sum(n > p.max_seq_length for n in lengths)
    if truncated:
        events.emit(
            "warning",
            kind="data",
            message=f"{truncated} of {len(lengths)} train examples exceed max_seq_length "
            f"{p.max_seq_length} and will be truncated",
        )
    optimizer = optim.AdamW(learning_rate=schedule(p, total_steps), weight_decay=p.weight_decay)
    return TrainingSetup(
        model=model,
        tokenizer=tokenizer,
        adapter_config=adapter_config(cfg.model, num_layers, lora, p.fine_tune_type),
        train_set=train_set,
        valid_set=valid_set,
        order=order,
        total_steps=total_steps,
        optimizer=optimizer,
        masking_note=masking_note(formats, p.mask_prompt),
    )


def start_from_adapter(model: nn.Module, adapter: Path) -> None:
    """The parent run's LoRA weights as this run's start (`train --from`). mlx-lm's load_adapters
    loads with strict=False, so a file that fits some layers only would load silently: every
    trainable weight must be in it, with its shape."""
    try:
        weights = mx.load(str(adapter / ADAPTER_WEIGHTS))
    except (OSError, ValueError) as exc:
        raise UserError(f"{adapter}: cannot read the parent's adapter: {exc}") from None
    own = dict(tree_flatten(model.trainable_parameters()))
    wrong = sorted(
        k
        for k in own.keys() | weights.keys()
        if k not in own or k not in weights or own[k].shape != weights[k].shape
    )
    if wrong:
        raise UserError(
            f"{adapter}: the parent's adapter does not fit this run's LoRA layers "
            f"({len(wrong)} weights differ, e.g. {wrong[0]})"
        )
    model.load_weights(list(weights.items()), strict=False)


def schedule(p: Profile, total_steps: int):
    """Linear warm-up, then cosine decay to a tenth of the peak by the last step."""
    warmup = p.warmup_for(total_steps)
    decay = max(total_steps - warmup, 1)
    lr = p.learning_rate
    return build_schedule(
        {"name": "cosine_decay", "warmup": warmup, "arguments": [lr, decay, lr * 0.1]}
    )


def schedule_note(p: Profile, total_steps: int) -> str:
    """The schedule as this run applies it, with the warm-up actually used and why it is shorter."""
    warmup = p.warmup_for(total_steps)
    cut = (
        ""
        if warmup == p.warmup_steps
        else (
            f" (warmup_steps {p.warmup_steps}, at most warmup_share {p.warmup_share:g} of "
            f"{total_steps} steps)"
        )
    )
    return (
        f"warm-up {warmup} steps{cut}: learning rate {p.learning_rate:g} from step "
        f"{max(warmup, 1)}, "
        f"cosine decay to {p.learning_rate * 0.1:g} at step {total_steps}"
    )
