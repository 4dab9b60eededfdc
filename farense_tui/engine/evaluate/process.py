"""The evaluation process: `python -m farense_tui.engine.evaluate.process JOB_FOLDER`.

Loads the run's model with its adapter once (mlx-lm), scores the split's loss and perplexity
masked as training masked it, then answers every example greedily (temperature 0) with the
adapter and, when asked, with the base model (the same weights with the LoRA scale at 0), and
scores the answers. Answers are generated in batches (batched.py), equal to one-at-a-time greedy
answers. Progress goes to the job's events file, one event per answer; a cancel command stops it
after the generation step in progress and leaves no result. Results are written whole or not at all.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import mlx.core as mx

from farense_tui.engine.chat.service import adapter_off, load_target, target_for_run
from farense_tui.engine.data.preference_records import chosen_as_chat
from farense_tui.engine.data.system_message import training_system_message
from farense_tui.engine.errors import UserError
from farense_tui.engine.evaluate.batched import greedy_answers, prompt_tokens
from farense_tui.engine.evaluate.examples import load_eval_set, split_path
from farense_tui.engine.evaluate.job import EvalJob, EvalSettings
from farense_tui.engine.evaluate.metrics import score
from farense_tui.engine.evaluate.summary import sample_indices, summarize
from farense_tui.engine.files import atomic_write_json, read_json
from farense_tui.engine.models.loading import load_base
from farense_tui.engine.processes import EXIT_FAILED
from farense_tui.engine.runs.event_types import State
from farense_tui.engine.runs.events import EventWriter, read_all, record_crash
from farense_tui.engine.runs.run_folder import COMMANDS, EVENTS, RunFolder
from farense_tui.engine.training.evaluation import validation_loss
from farense_tui.engine.training.splits import load_split
from farense_tui.engine.versions import versions


@contextmanager
def side_model(model, base, side: str):
    """The model a side answers with: the run's, or the base (a separate one, or the LoRA switched
    off)."""
    if side != "base":
        yield model
    elif base is not None:
        yield base
    else:
        with adapter_off(model):
            yield model


class Cancelled(Exception):
    pass


class Evaluation:
    def __init__(self, folder: Path, settings: EvalSettings, events: EventWriter):
        self.folder, self.settings, self.events = folder, settings, events
        self.job = EvalJob(Path(settings.run_dir), settings.name)

    def run(self) -> int:
        s, tic, started = self.settings, time.perf_counter(), datetime.now(timezone.utc)
        run_dir = Path(s.run_dir)
        cfg = RunFolder(run_dir).load_config()
        target = target_for_run(run_dir, s.checkpoint)
        loading = f"{cfg.model} with {target.adapter}" if target.adapter else target.model
        self.events.emit("state", state=State.LOADING, message=f"loading {loading}")
        model, tokenizer = load_target(target)
        # A full fine-tune has no LoRA to switch off: its base side is the base model, loaded beside
        # it.
        full_base = s.base and cfg.profile.fine_tune_type == "full"
        base = load_base(cfg.model, cfg.profile.train_precision)[0] if full_base else None
        mx.reset_peak_memory()
        system = s.system if s.system is not None else training_system_message(Path(cfg.data))
        data = load_eval_set(split_path(Path(cfg.data), s.split), system)
        sides = ("adapter", "base") if s.base else ("adapter",)
        self.events.emit(
            "state", state=State.EVALUATING, message=f"{len(data.rows)} examples of {data.path}"
        )

        # A preference split's loss is its chosen replies' (the right answers'), as chat examples.
        rows = [chosen_as_chat(r) for r in data.rows] if data.format == "preference" else data.rows
        dataset = load_split(data.path, tokenizer, cfg.profile.mask_prompt, rows=rows)
        loss = {}
        for done, side in enumerate(sides, start=1):
            self._check_cancel()
            with side_model(model, base, side) as m:
                value = validation_loss(
                    m, dataset, cfg.profile.batch_size, cfg.profile.max_seq_length
                )
            loss[side] = {"loss": value, "perplexity": math.exp(min(value, 700))}
            self.events.emit("progress", phase="loss", done=done, total=len(sides))

        samples = sample_indices(len(data.examples), s.samples, s.seeds)
        wanted = sorted({i for idx in samples.values() for i in idx})
        prompts = [prompt_tokens(tokenizer, data.examples[i].messages) for i in wanted]
        answers, tokens, gen_time = [], 0, 0.0
        total, answers_tic = len(wanted) * len(sides), time.perf_counter()
        for side in sides:
            self._check_cancel()
            g_tic = time.perf_counter()
            with side_model(model, base, side) as m:
                for k, text, count in greedy_answers(
                    m,
                    tokenizer,
                    prompts,
                    s.max_tokens,
                    s.batch_size,
                    should_stop=self._cancel_asked,
                ):
                    i, example = wanted[k], data.examples[wanted[k]]
                    tokens += count
                    answers.append(
                        {
                            "index": i,
                            "side": side,
                            "question": example.question,
                            "reference": example.reference,
                            "answer": text,
                            "tokens": count,
                            **score(text, example.reference),
                        }
                    )
                    done = len(answers)
                    eta = (time.perf_counter() - answers_tic) / done * (total - done)
                    self.events.emit(
                        "progress", phase="answers", done=done, total=total, eta_sec=round(eta, 1)
                    )
            gen_time += time.perf_counter() - g_tic
            self._check_cancel()
        answers.sort(key=lambda a: (a["index"], sides.index(a["side"])))

        wall_hours = (time.perf_counter() - tic) / 3600
        result = {
            "run": run_dir.name,
            "checkpoint": s.checkpoint,
            "split": s.split,
            "split_path": str(data.path),
            "format": data.format,
            "examples": len(data.rows),
            "adapter": str(target.adapter),
            "model": cfg.model,
            "system": system,
            "settings": asdict(s),
            "seeds": s.seeds,
            "samples": {str(k): v for k, v in samples.items()},
            "loss": loss,
            "metrics": summarize(answers, samples) if answers else {},
            "note": "text data has no reference answers: loss and perplexity only"
            if data.format == "text"
            else "",
            "versions": versions("farense-tui", "mlx", "mlx-lm", "rouge-score"),
            "started": started.isoformat(timespec="seconds"),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "cost": {
                "wall_hours": wall_hours,
                "generated_tokens": tokens,
                "tokens_per_sec": tokens / gen_time if gen_time else None,
                "peak_memory_gb": mx.get_peak_memory() / 1e9,
                "price_per_hour": s.price_per_hour,
                "money": wall_hours * s.price_per_hour if s.price_per_hour is not None else None,
            },
        }
        _write_jsonl(self.job.answers_path, answers)
        atomic_write_json(self.job.result_path, result)
        self.events.emit(
            "result", path=str(self.job.result_path), answers=str(self.job.answers_path)
        )
        self.events.emit(
            "state", state=State.FINISHED, message=f"results in {self.job.result_path}"
        )
        return 0

    def _cancel_asked(self) -> bool:
        return any(c.get("cmd") == "cancel" for c in read_all(self.folder / COMMANDS))

    def _check_cancel(self) -> None:
        if self._cancel_asked():
            raise Cancelled


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    tmp.replace(path)


def main(argv: list[str]) -> int:
    folder = Path(argv[0])
    (folder / "process.pid").write_text(str(os.getpid()))
    events = EventWriter(folder / EVENTS)
    try:
        data = read_json(folder / "job.json")
        if data is None:
            raise UserError(f"{folder / 'job.json'}: missing or not JSON")
        return Evaluation(folder, EvalSettings.from_dict(data), events).run()
    except Cancelled:
        events.emit(
            "state", state=State.STOPPED, message="evaluation cancelled; no results written"
        )
        return 0
    except UserError as exc:
        events.emit("error", kind="data", message=str(exc))
        events.emit("state", state=State.FAILED, message=str(exc))
        return EXIT_FAILED
    except Exception as exc:  # a bug, not the user's mistake: say so, keep the traceback in the log
        return record_crash(events, "evaluation", exc, "eval.log")
    finally:
        events.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
