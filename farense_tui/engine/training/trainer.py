"""The training loop of one engine process.

Written on mlx-lm's pieces (loading, LoRA layers, datasets, loss, gradient checkpointing, adapters)
because its train() has no per-step hook, no pause/stop, and saves no optimizer state; this loop
adds those, exact resume, best-adapter keeping, NaN and memory-budget guards, and typed events.
"""

from __future__ import annotations

import math
import os
import time
from functools import partial
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map
from mlx_lm.tuner.trainer import default_loss, grad_checkpoint
from mlx_lm.tuner.utils import build_schedule

from farense_tui.engine.runs import checkpoints
from farense_tui.engine.training import checkpoint_writer as ckpt
from farense_tui.engine.training.batching import StepOrder, micro_batches
from farense_tui.engine.runs.commands import CommandInbox
from farense_tui.engine.errors import UserError
from farense_tui.engine.training.evaluation import validation_loss
from farense_tui.engine.runs.events import EventWriter
from farense_tui.engine.training.memory_watch import MemoryWatch, fmt_gb
from farense_tui.engine.models.loading import add_lora, load_base
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.exit_codes import EXIT_DONE, EXIT_FAILED, EXIT_OVER_BUDGET, EXIT_SWITCH
from farense_tui.engine.training.splits import load_splits

class StopTraining(Exception):
    def __init__(self, code: int):
        self.code = code


class Trainer:
    def __init__(self, run_dir: Path, cfg: RunConfig, events: EventWriter):
        self.run_dir = run_dir
        self.cfg = cfg
        self.p = cfg.profile
        self.events = events
        self.commands = CommandInbox(run_dir)
        self.paused = False
        self.step = 0
        self.best_val_loss = math.inf
        self.best_step = 0
        self.evals_since_best = 0
        self.trained_tokens = 0
        self.restarts = 0
        self.state, self.state_message = "", ""
        self.total_steps = 0

    def _set_state(self, state: str, message: str) -> None:
        """Emit a state event on a change of state only, so readers see transitions, not noise.

        Each carries step and total_steps, so a reader knows the run's length before its first step.
        """
        if state != self.state:
            self.state, self.state_message = state, message
            self.events.emit("state", state=state, message=message, step=self.step, total_steps=self.total_steps)

    # ---- setup -------------------------------------------------------------------------------
    def setup(self) -> None:
        self._set_state(state="loading", message=f"loading {self.cfg.model}")
        mx.random.seed(self.p.seed)
        self.model, self.tokenizer = load_base(self.cfg.model, self.p.base_precision)
        self.num_layers, self.lora = add_lora(self.model, self.p)
        if self.p.grad_checkpoint:
            grad_checkpoint(self.model.layers[0])  # mlx-lm's: blocks recompute activations in backward
        self.train_set, self.valid_set = load_splits(Path(self.cfg.data), self.tokenizer, self.p.mask_prompt)
        lengths = [len(self.train_set[i][0]) for i in range(len(self.train_set))]
        self.order = StepOrder(lengths, self.p.effective_batch, self.p.seed)
        self.total_steps = self.p.iters or self.p.epochs * self.order.steps_per_epoch
        if self.p.warmup_steps >= self.total_steps:
            self.events.emit(
                "warning", kind="schedule",
                message=f"warmup_steps ({self.p.warmup_steps}) ≥ total steps ({self.total_steps}): "
                "the learning rate never reaches its peak",
            )
        truncated = sum(n > self.p.max_seq_length for n in lengths)
        if truncated:
            self.events.emit(
                "warning", kind="data",
                message=f"{truncated} of {len(lengths)} train examples exceed max_seq_length "
                f"{self.p.max_seq_length} and will be truncated",
            )
        self.optimizer = optim.AdamW(learning_rate=self._schedule(), weight_decay=self.p.weight_decay)
        self._restore()
        self.memory = MemoryWatch(self.p.memory_budget_gb, self.p.backend)
        self._compile_steps()

    def _schedule(self):
        warmup = min(self.p.warmup_steps, max(self.total_steps - 1, 0))
        decay = max(self.total_steps - warmup, 1)
        lr = self.p.learning_rate
        return build_schedule({"name": "cosine_decay", "warmup": warmup, "arguments": [lr, decay, lr * 0.1]})

    def _restore(self) -> None:
        found = checkpoints.latest_checkpoint(self.run_dir)
        checkpoints.clean_partial(self.run_dir)
        if found is None:
            return
        folder, state = found
        if state.get("config_hash") != self.cfg.training_hash():
            raise UserError(
                f"{self.run_dir / 'training_state.json'}: the checkpoint was trained with other settings "
                "(model, data, schedule, LoRA shape or effective batch changed); start a new run instead"
            )
        self.model.load_weights(str(folder / "adapters.safetensors"), strict=False)
        saved = ckpt.load_optimizer_state(folder)
        self.optimizer.state = saved["optimizer"]
        mx.eval(self.model.parameters(), self.optimizer.state)
        self.step = state["step"]
        self.best_val_loss = state.get("best_val_loss") or math.inf
        self.best_step = state.get("best_step", 0)
        self.evals_since_best = state.get("evals_since_best", 0)
        self.trained_tokens = state.get("trained_tokens", 0)
        self.restarts = state.get("restarts", 0) + 1
        self._set_state(state="training", message=f"resumed from {folder.name} (step {self.step})")

    def _compile_steps(self) -> None:
        loss_and_grad = nn.value_and_grad(self.model, default_loss)
        accum = self.p.grad_accumulation
        state = [self.model.state, self.optimizer.state, mx.random.state]
        add = partial(tree_map, lambda a, b: a + b)

        @partial(mx.compile, inputs=state, outputs=state)
        def accumulate(batch, lengths, prev):
            (loss, ntoks), grad = loss_and_grad(self.model, batch, lengths)
            return loss, ntoks, (grad if prev is None else add(grad, prev))

        @partial(mx.compile, inputs=state, outputs=state)
        def update(batch, lengths, prev):
            (loss, ntoks), grad = loss_and_grad(self.model, batch, lengths)
            if prev is not None:
                grad = add(grad, prev)
            if accum > 1:
                grad = tree_map(lambda g: g / accum, grad)
            self.optimizer.update(self.model, grad)
            return loss, ntoks

        self._accumulate, self._update, self._state = accumulate, update, state

    # ---- loop --------------------------------------------------------------------------------
    def run(self) -> int:
        try:
            self.setup()
            if self.step == 0:
                self._evaluate()
            self._set_state(state="training", message=f"step {self.step}/{self.total_steps}")
            self.model.train()
            while self.step < self.total_steps:
                self._handle_commands()
                self._train_step()
                if self.step % self.p.eval_every == 0 or self.step == self.total_steps:
                    if self._evaluate() and self._early_stop():
                        break
                if self.step % self.p.save_every == 0 and self.step < self.total_steps:
                    self._checkpoint("periodic")
            self._finish()
            return EXIT_DONE
        except StopTraining as stop:
            return stop.code
        except UserError as exc:
            self.events.emit("error", kind="data", step=self.step, message=str(exc))
            self._set_state(state="failed", message=str(exc))
            return EXIT_FAILED
        except RuntimeError as exc:
            if not _is_allocation_error(exc):
                raise
            self.events.emit("error", kind="oom", step=self.step, message=f"MLX could not allocate memory: {exc}")
            return EXIT_OVER_BUDGET

    def _train_step(self) -> None:
        self.step += 1
        # The RNG (LoRA dropout) is a pure function of (seed, step), so a resume needs no RNG state.
        mx.random.seed(self.p.seed * 1_000_003 + self.step)
        if self.step == self.cfg.faults.nan_at_step > 0:
            _poison_one_lora_weight(self.model)
        tic = time.perf_counter()
        group = self.order.group_for(self.step)
        batches = list(micro_batches(self.train_set, group, self.p.batch_size, self.p.max_seq_length))
        grad, losses, ntoks = None, [], 0
        for i, (batch, lengths) in enumerate(batches):
            if i < len(batches) - 1:
                loss, toks, grad = self._accumulate(batch, lengths, grad)
                mx.eval(loss, toks, grad)
            else:
                loss, toks = self._update(batch, lengths, grad)
                mx.eval(self._state, loss, toks)
            losses.append(loss.item())
            ntoks += toks.item()
        step_time = time.perf_counter() - tic
        loss = sum(losses) / len(losses)
        self.trained_tokens += ntoks
        if not math.isfinite(loss):
            self._fail_nan(loss)
        mem = self.memory.sample()
        if self.cfg.events:
            self.events.emit(
                "step", step=self.step, total_steps=self.total_steps, epoch=self.order.epoch_of(self.step),
                loss=round(loss, 6), learning_rate=float(self.optimizer.learning_rate.item()),
                tokens_per_sec=round(ntoks / step_time, 1), step_time=round(step_time, 4),
                trained_tokens=self.trained_tokens, **mem,
            )
        for warning in self.memory.warnings(mem):
            self.events.emit("warning", kind="memory", message=warning)
        if self.memory.over_budget(mem):
            self.events.emit(
                "error", kind="budget", step=self.step,
                message=f"MLX peak {fmt_gb(mem['mem_peak_gb'])} is over the profile's budget "
                f"{fmt_gb(self.p.memory_budget_gb)} (batch {self.p.batch_size}, sequence {self.p.max_seq_length})",
            )
            self._checkpoint("budget")
            raise StopTraining(EXIT_OVER_BUDGET)
        if self.step == self.cfg.faults.abort_at_step > 0 and (self.restarts == 0 or not self.cfg.faults.abort_once):
            os.abort()  # fault injection: die the way a Metal out-of-memory can

    def _fail_nan(self, loss: float) -> None:
        message = (
            f"loss became {loss} at step {self.step}; the last good checkpoint is kept. "
            "Try learning_rate 1e-4 and warmup_steps 200."
        )
        self.events.emit("error", kind="nan", step=self.step, message=message)
        self._set_state(state="failed", message=message)
        raise StopTraining(EXIT_FAILED)

    def _evaluate(self) -> bool:
        """Validation loss on the valid split; keeps the best adapter. Returns True if evaluated."""
        self._set_state(state="evaluating", message=f"validation at step {self.step}")
        tic = time.perf_counter()
        val_loss = validation_loss(self.model, self.valid_set, self.p.batch_size, self.p.max_seq_length,
                                   self.p.val_batches)
        self.model.train()
        is_best = self.step > 0 and val_loss < self.best_val_loss
        if is_best:
            self.best_val_loss, self.best_step, self.evals_since_best = val_loss, self.step, 0
            weights = dict(tree_flatten(self.model.trainable_parameters()))
            ckpt.publish_weights(self.run_dir, "best", weights, self._adapter_config())
        elif self.step > 0:
            self.evals_since_best += 1
        self.events.emit(
            "eval", step=self.step, val_loss=round(val_loss, 6), is_best=is_best,
            best_val_loss=None if math.isinf(self.best_val_loss) else round(self.best_val_loss, 6),
            eval_time=round(time.perf_counter() - tic, 3),
        )
        self._set_state(state="training", message=f"step {self.step}/{self.total_steps}")
        return True

    def _early_stop(self) -> bool:
        patience = self.p.early_stop_patience
        if patience and self.evals_since_best >= patience:
            self.events.emit(
                "warning", kind="early-stop",
                message=f"no better validation loss in {patience} evaluations: stopping early",
            )
            return True
        return False

    # ---- commands ----------------------------------------------------------------------------
    def _handle_commands(self) -> None:
        while True:
            for command in self.commands.take():
                self._apply(command)
            if not self.paused:
                return
            time.sleep(0.1)

    def _apply(self, command: dict) -> None:
        name = command.get("cmd")
        if name == "pause" and not self.paused:
            self.paused = True
            self._set_state(state="paused", message=f"paused at step {self.step}")
        elif name == "resume" and self.paused:
            self.paused = False
            self._set_state(state="training", message=f"resumed at step {self.step}")
        elif name == "save":
            self._checkpoint("save-now")
        elif name == "stop":
            self._set_state(state="stopping", message=f"stopping at step {self.step}")
            self._checkpoint("stop")
            self._set_state(state="stopped", message=f"stopped at step {self.step}; resume any time")
            raise StopTraining(EXIT_DONE)
        elif name == "switch":
            self._set_state(state="switching", message=f"switching to profile {command.get('profile')}")
            self._checkpoint("switch")
            raise StopTraining(EXIT_SWITCH)

    # ---- saving ------------------------------------------------------------------------------
    def _adapter_config(self) -> dict:
        return ckpt.adapter_config(self.cfg.model, self.num_layers, self.lora)

    def _checkpoint(self, reason: str) -> Path:
        before = (self.state, self.state_message)
        self._set_state(state="saving", message=f"checkpoint at step {self.step} ({reason})")
        state = {
            "step": self.step,
            "epoch": self.order.epoch_of(max(self.step, 1)),
            "total_steps": self.total_steps,
            "data_position": {"seed": self.p.seed, "step_in_epoch": (self.step - 1) % self.order.steps_per_epoch + 1}
            if self.step else {"seed": self.p.seed, "step_in_epoch": 0},
            "best_val_loss": None if math.isinf(self.best_val_loss) else self.best_val_loss,
            "best_step": self.best_step,
            "evals_since_best": self.evals_since_best,
            "trained_tokens": self.trained_tokens,
            "restarts": self.restarts,
            "config_hash": self.cfg.training_hash(),
            "rng": {"seed": self.p.seed, "scheme": "mx.random.seed(seed * 1000003 + step) before each step"},
            "batch_size": self.p.batch_size,
            "grad_accumulation": self.p.grad_accumulation,
            "max_seq_length": self.p.max_seq_length,
            "profile": self.p.name,
            "saved_at": time.time(),
        }
        hang = 30.0 if self.step == self.cfg.faults.hang_in_checkpoint_at_step > 0 else 0.0
        folder = ckpt.write_checkpoint(
            self.run_dir, self.step,
            dict(tree_flatten(self.model.trainable_parameters())), self._adapter_config(),
            {"optimizer": self.optimizer.state}, state, hang_seconds=hang,
        )
        self.events.emit("checkpoint", step=self.step, path=str(folder.relative_to(self.run_dir)), reason=reason)
        self._set_state(*before)
        return folder

    def _finish(self) -> None:
        folder = self._checkpoint("final")
        final = ckpt.publish_adapter(self.run_dir, folder, "final")
        best = self.run_dir / "best"
        self.events.emit(
            "finished", step=self.step, final_adapter=str(final),
            best_adapter=str(best) if best.exists() else None,
            best_val_loss=None if math.isinf(self.best_val_loss) else self.best_val_loss,
        )
        self._set_state(state="finished", message=f"finished at step {self.step}")


def _poison_one_lora_weight(model: nn.Module) -> None:
    name, weight = next((k, v) for k, v in tree_flatten(model.trainable_parameters()) if k.endswith("lora_b"))
    model.load_weights([(name, mx.full(weight.shape, float("nan"), weight.dtype))], strict=False)


def _is_allocation_error(exc: RuntimeError) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("allocate", "out of memory", "resource limit", "insufficient memory"))
