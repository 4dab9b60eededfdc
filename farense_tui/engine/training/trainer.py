"""The training loop of one engine process.

Written on mlx-lm's pieces (loading, LoRA layers, datasets, loss, gradient checkpointing, schedule,
adapters) because its train() has no per-step hook, no pause/stop, and saves no optimizer state;
this loop adds those, exact resume, best-adapter keeping, NaN and memory-budget guards, and typed
events. Around it: setup.py (what it trains), steps.py (the compiled step), resume.py,
controls.py (commands), guards.py, faults.py and checkpoint_writer.py. Controls and guards only
say what is to be done (a Command, a Verdict); this loop alone changes the run's state, and writes
each state as a State.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_flatten, tree_map

from farense_tui.engine.errors import UserError
from farense_tui.engine.processes import EXIT_DONE, EXIT_FAILED, EXIT_RANK_LOST
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.event_types import State
from farense_tui.engine.runs.events import EventWriter
from farense_tui.engine.runs.run_folder import RunFolder
from farense_tui.engine.runs.training_state import TrainingState
from farense_tui.engine.training import checkpoint_writer as ckpt
from farense_tui.engine.training import faults, guards
from farense_tui.engine.training.controls import Command, Controls
from farense_tui.engine.training.evaluation import validation_loss
from farense_tui.engine.training.memory_watch import MemoryWatch
from farense_tui.engine.training.model_folder import publish_model
from farense_tui.engine.training.ranks import Ranks
from farense_tui.engine.training.reference_logprobs import build_objective
from farense_tui.engine.training.resume import restore
from farense_tui.engine.training.setup import build_setup
from farense_tui.engine.training.steps import CompiledSteps
from farense_tui.engine.training.stop import StopTraining

RANK_MEMORY = ("mem_peak_gb", "rss_gb", "sys_used_gb", "sys_available_gb", "swap_used_gb")


class Trainer:
    def __init__(
        self, run_dir: Path, cfg: RunConfig, events: EventWriter, ranks: Ranks | None = None
    ):
        self.run_dir = run_dir
        self.cfg = cfg
        self.p = cfg.profile
        self.events = events
        self.ranks = ranks or Ranks()  # alone unless started by mlx.launch
        self.controls = Controls(run_dir)
        self.faults = faults.Faults.from_env()
        self.step = 0
        self.best_val_loss = math.inf
        self.best_step = 0
        self.evals_since_best = 0
        self.trained_tokens = 0
        self.restarts = 0
        self.state: State | None = None
        self.state_message = ""
        self.total_steps = 0
        self.before_step: tuple[dict, dict] | None = (
            None  # (LoRA weights, optimizer state) while a step runs
        )

    def set_state(self, state: State, message: str) -> None:
        """Emit a state event on a change of state only, so readers see transitions, not noise.

        Each carries step and total_steps, so a reader knows the run's length before its first step.
        """
        if state != self.state:
            self.state, self.state_message = state, message
            self.events.emit(
                "state", state=state, message=message, step=self.step, total_steps=self.total_steps
            )

    def run(self) -> int:
        try:
            self._prepare()
            if self.step == 0:
                self._evaluate()
            self.set_state(State.TRAINING, f"step {self.step}/{self.total_steps}")
            self.setup.model.train()
            while self.step < self.total_steps:
                for command in self.controls.between_steps(self.step, self.ranks.writer):
                    self._carry_out(command)
                self._train_step()
                if self.step % self.p.eval_every == 0 or self.step == self.total_steps:
                    self._evaluate()
                    if self._early_stop():
                        break
                if self.step % self.p.save_every == 0 and self.step < self.total_steps:
                    self.checkpoint("periodic")
            self._finish()
            return EXIT_DONE
        except StopTraining as stop:
            return stop.code
        except UserError as exc:
            self.events.emit("error", kind="data", step=self.step, message=str(exc))
            self.set_state(State.FAILED, str(exc))
            return EXIT_FAILED
        except RuntimeError as exc:
            if self.ranks.lost_peer(exc):
                return EXIT_RANK_LOST  # another rank died: the supervisor reads which and why
            verdict = guards.allocation_failed(exc, mid_step=self.before_step is not None)
            try:
                return self._end(verdict)
            except RuntimeError:
                return (
                    verdict.exit_code
                )  # no memory even to save: the previous checkpoint is the one resumed

    def _carry_out(self, command: Command) -> None:
        if command.state is not None:
            self.set_state(command.state, command.message)
        if command.save:
            self.checkpoint(command.save)
        if command.then is not None:
            self.set_state(*command.then)
        if command.exit_code is not None:
            raise StopTraining(command.exit_code)

    def _end(self, verdict: guards.Verdict) -> int:
        """Apply a guard's verdict: take back a half-done step, report, fail or save; its exit
        code."""
        if verdict.take_back_step:
            weights, optimizer_state = self.before_step
            self.setup.model.update(weights)
            self.setup.optimizer.state = optimizer_state
            self.step -= 1
        self.events.emit("error", kind=verdict.kind, step=self.step, message=verdict.message)
        if verdict.failed:
            self.set_state(State.FAILED, verdict.message)
        if verdict.save and hasattr(self, "setup") and self.step > 0:
            self.checkpoint(verdict.save)
        return verdict.exit_code

    def _prepare(self) -> None:
        self.set_state(State.LOADING, f"loading {self.cfg.model}")
        self.setup = build_setup(self.cfg, self.events)
        self.total_steps = self.setup.total_steps
        # Before the restore: DPO's reference log-probs are the starting model's
        # (reference_logprobs.py).
        self.objective = build_objective(
            self.cfg, self.setup, self.run_dir, self.events, self.ranks.writer
        )
        saved = restore(self.run_dir, self.cfg, self.setup, self.events, clean=self.ranks.writer)
        if saved is not None:
            self.step, self.best_step, self.evals_since_best = (
                saved.step,
                saved.best_step,
                saved.evals_since_best,
            )
            self.best_val_loss = math.inf if saved.best_val_loss is None else saved.best_val_loss
            self.trained_tokens, self.restarts = saved.trained_tokens, saved.restarts + 1
            self.set_state(State.TRAINING, f"resumed from {saved.checkpoint} (step {self.step})")
        elif self.setup.masking_note:
            self.events.emit("note", kind="data", message=self.setup.masking_note)
        self.memory = MemoryWatch(self.p.memory_budget_gb, self.p.backend)
        if self.objective.warning and saved is None:
            self.events.emit("warning", kind="objective", message=self.objective.warning)
        self.steps = CompiledSteps(
            self.setup.model, self.setup.optimizer, self.ranks, self.objective
        )

    def _train_step(self) -> None:
        self.step += 1
        # The RNG (LoRA dropout) is a pure function of (seed, step), so a resume needs no RNG state.
        mx.random.seed(self.p.seed * 1_000_003 + self.step)
        faults.before_step(self.faults, self.step, self.setup.model, self.ranks.rank)
        tic = time.perf_counter()
        group = self.setup.order.group_for(self.step)
        batches = self.objective.batches(
            self.setup.train_set, group, self.p.batch_size, self.p.max_seq_length
        )
        inputs = self.objective.input_tokens(self.setup.train_set, group, self.p.max_seq_length)
        # References, not copies (MLX arrays are immutable): what an allocation error mid-step rolls
        # back to.
        self.before_step = (
            self.setup.model.trainable_parameters(),
            tree_map(lambda a: a, self.setup.optimizer.state),
        )
        mine = self.ranks.share(batches)
        loss, ntoks, local = self.steps.run(
            faults.mid_step(self.faults, self.step, self.restarts, mine, self.ranks.rank)
        )
        self.before_step = None
        step_time = time.perf_counter() - tic
        self.trained_tokens += ntoks
        verdict = guards.check_loss(self.step, loss)
        if verdict is not None:
            raise StopTraining(self._end(verdict))
        mem = self.memory.sample()
        per_rank = self._per_rank(local / step_time, mem)
        if self.cfg.events:
            self.events.emit(
                "step",
                step=self.step,
                total_steps=self.total_steps,
                epoch=self.setup.order.epoch_of(self.step),
                loss=round(loss, 6),
                learning_rate=float(self.setup.optimizer.learning_rate.item()),
                tokens_per_sec=round(ntoks / step_time, 1),
                step_time=round(step_time, 4),
                trained_tokens=self.trained_tokens,
                input_tokens=inputs,
                **mem,
                **(
                    {"ranks": per_rank} if per_rank else {}
                ),  # one-rank runs' events stay as they were
                **self.objective.metrics(
                    self.steps.stats, self.steps.count
                ),  # DPO/ORPO: rewards, margin, accuracy
            )
        warnings, verdict = guards.check_memory(self.memory, self.p, mem)
        for warning in warnings:
            self.events.emit("warning", kind="memory", message=warning)
        if verdict is not None:
            raise StopTraining(self._end(verdict))
        faults.after_step(self.faults, self.step, self.restarts, self.ranks.rank)

    def _per_rank(self, tokens_per_sec: float, mem: dict) -> list[dict] | None:
        """Each rank's tokens/s and memory (its own, and its machine's: the evidence if it dies of
        out-of-memory), gathered to every rank (rank 0 writes them); None alone."""
        if self.ranks.size == 1:
            return None
        rows = self.ranks.gather([tokens_per_sec, *(mem[key] for key in RANK_MEMORY)])
        return [
            {
                "rank": r,
                "tokens_per_sec": round(row[0], 1),
                **{k: round(v, 4) for k, v in zip(RANK_MEMORY, row[1:])},
            }
            for r, row in enumerate(rows)
        ]

    def _evaluate(self) -> None:
        """Validation loss on the valid split; a better one than before becomes the best adapter."""
        self.set_state(State.EVALUATING, f"validation at step {self.step}")
        tic, metrics = time.perf_counter(), {}
        val_loss = validation_loss(
            self.setup.model,
            self.setup.valid_set,
            self.p.batch_size,
            self.p.max_seq_length,
            self.p.val_batches,
            self.objective,
            metrics,
        )
        self.setup.model.train()
        is_best = self.step > 0 and val_loss < self.best_val_loss
        if is_best:
            self.best_val_loss, self.best_step, self.evals_since_best = val_loss, self.step, 0
            if self.ranks.writer and self.p.fine_tune_type == "full":
                publish_model(
                    self.run_dir, "best", self.setup.model, self.setup.tokenizer, self.cfg.model
                )
            elif self.ranks.writer:
                weights = self._adapter_weights()
                ckpt.publish_weights(self.run_dir, "best", weights, self.setup.adapter_config)
        elif self.step > 0:
            self.evals_since_best += 1
        self.events.emit(
            "eval",
            step=self.step,
            val_loss=round(val_loss, 6),
            is_best=is_best,
            best_val_loss=None if math.isinf(self.best_val_loss) else round(self.best_val_loss, 6),
            eval_time=round(time.perf_counter() - tic, 3),
            **metrics,
        )
        self.set_state(State.TRAINING, f"step {self.step}/{self.total_steps}")

    def _early_stop(self) -> bool:
        patience = self.p.early_stop_patience
        if patience and self.evals_since_best >= patience:
            self.events.emit(
                "warning",
                kind="early-stop",
                message=f"no better validation loss in {patience} evaluations: stopping early",
            )
            return True
        return False

    def checkpoint(self, reason: str) -> Path | None:
        if not self.ranks.writer:
            # the ranks hold the same weights and optimizer state: rank 0's copy is the one
            return None
        before = (self.state, self.state_message)
        self.set_state(State.SAVING, f"checkpoint at step {self.step} ({reason})")
        folder = ckpt.write_checkpoint(
            self.run_dir,
            self._adapter_weights(),
            self.setup.adapter_config,
            {"optimizer": self.setup.optimizer.state},
            self._record(),
            pause=faults.checkpoint_pause(self.faults, self.step),
        )
        self.events.emit(
            "checkpoint", step=self.step, path=str(folder.relative_to(self.run_dir)), reason=reason
        )
        self.set_state(*before)
        return folder

    def _record(self) -> TrainingState:
        """Where training stands now, for the checkpoint being written."""
        step_in_epoch = (self.step - 1) % self.setup.order.steps_per_epoch + 1 if self.step else 0
        return TrainingState(
            step=self.step,
            epoch=self.setup.order.epoch_of(max(self.step, 1)),
            total_steps=self.total_steps,
            data_position={"seed": self.p.seed, "step_in_epoch": step_in_epoch},
            best_val_loss=None if math.isinf(self.best_val_loss) else self.best_val_loss,
            best_step=self.best_step,
            evals_since_best=self.evals_since_best,
            trained_tokens=self.trained_tokens,
            restarts=self.restarts,
            config_hash=self.cfg.training_hash(),
            training_key=self.cfg.training_key(),
            rng={
                "seed": self.p.seed,
                "scheme": "mx.random.seed(seed * 1000003 + step) before each step",
            },
            batch_size=self.p.batch_size,
            grad_accumulation=self.p.grad_accumulation,
            max_seq_length=self.p.max_seq_length,
            profile=self.p.name,
            saved_at=time.time(),
        )

    def _adapter_weights(self) -> dict:
        return dict(tree_flatten(self.setup.model.trainable_parameters()))

    def _finish(self) -> None:
        folder = self.checkpoint("final")
        if folder is None:
            return
        if (
            self.p.fine_tune_type == "full"
        ):  # the model as trained, which the final checkpoint holds
            final = publish_model(
                self.run_dir, "final", self.setup.model, self.setup.tokenizer, self.cfg.model
            )
        else:
            final = ckpt.publish_adapter(self.run_dir, folder, "final")
        best = RunFolder(self.run_dir).published("best")
        self.events.emit(
            "finished",
            step=self.step,
            final_adapter=str(final),
            best_adapter=str(best) if best.exists() else None,
            best_val_loss=None if math.isinf(self.best_val_loss) else self.best_val_loss,
        )
        self.set_state(State.FINISHED, f"finished at step {self.step}")
