"""A run's resolved configuration: the profile plus model, data and run options, as config.toml.

It is written once when a run is created (and rewritten when recovery or a profile switch
changes the profile), so a run folder always says exactly what it trained with.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import tomli_w

from farense_tui.engine.errors import UserError
from farense_tui.engine.profiles.profile import Profile, profile_from_dict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class Faults:
    """Fault injection for tests and drills; all off by default."""

    abort_at_step: int = 0  # os.abort() after this optimizer step, as a Metal OOM can
    nan_at_step: int = 0  # poison a LoRA weight before this step, giving a real NaN loss
    hang_in_checkpoint_at_step: int = 0  # sleep halfway through writing this checkpoint
    abort_once: bool = True  # a restarted engine does not abort again (so recovery can be seen)


@dataclass
class RunConfig:
    profile: Profile
    model: str  # local folder or Hub id, as resolved
    data: str  # folder with train.jsonl / valid.jsonl
    run_id: str = ""
    auto_recover: bool = True
    events: bool = True  # per-step metric events (off only to measure their cost)
    faults: Faults = field(default_factory=Faults)

    def to_dict(self) -> dict:
        return {
            "run": {
                "run_id": self.run_id,
                "model": self.model,
                "data": self.data,
                "auto_recover": self.auto_recover,
                "events": self.events,
            },
            "profile": {"name": self.profile.name, **self.profile.to_toml_dict()},
            "faults": asdict(self.faults),
        }

    def training_hash(self) -> str:
        """What must not change for a checkpoint to resume exactly: model, data, schedule, LoRA shape.

        Batch size, accumulation split, sequence cap, budget and bookkeeping may change on
        resume (recovery changes them on purpose); the effective batch may not.
        """
        p = self.profile
        keep = {
            "model": self.model,
            "data": self.data,
            "effective_batch": p.effective_batch,
            **{k: getattr(p, k) for k in (
                "learning_rate", "warmup_steps", "weight_decay", "epochs", "iters", "seed",
                "lora_rank", "lora_scale", "lora_dropout", "lora_targets", "lora_layers", "mask_prompt",
            )},
        }
        return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(tomli_w.dumps(self.to_dict()), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "RunConfig":
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise UserError(f"{path}: cannot read the run's config: {exc}") from None
        run = data.get("run", {})
        prof = dict(data.get("profile", {}))
        name = prof.pop("name", "custom")
        faults = data.get("faults", {})
        known = {f.name for f in fields(Faults)}
        if bad := set(faults) - known:
            raise UserError(f"{path}: unknown key(s) in [faults]: {', '.join(sorted(bad))}")
        return cls(
            profile=profile_from_dict(name, prof, source=f"{path} [profile]"),
            model=run["model"],
            data=run["data"],
            run_id=run.get("run_id", path.parent.name),
            auto_recover=run.get("auto_recover", True),
            events=run.get("events", True),
            faults=Faults(**faults),
        )
