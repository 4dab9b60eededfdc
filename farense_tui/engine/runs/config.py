"""A run's resolved configuration: the profile plus model, data and run options, as config.toml.

It is written once when a run is created (and rewritten when recovery or a profile switch
changes the profile), so a run folder always says exactly what it trained with.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from farense_tui.engine.errors import UserError
from farense_tui.engine.profiles.profile import RECIPE_FIELDS, Profile, profile_from_dict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


# The recipe (profile.py) a checkpoint resumes only under. These joined the training key later,
# each on a line of its own in training_key, so the keys and hashes of earlier runs stay as they
# were.
LATER_IN_KEY = ("base_precision", "warmup_share", "fine_tune_type", "objective", "beta")
TRAINING_FIELDS = tuple(k for k in RECIPE_FIELDS if k not in LATER_IN_KEY)
DATA_FILES = ("train.jsonl", "valid.jsonl")
# Settings added after runs were saved without them, and the value that gives those runs' old
# behaviour: before warmup_share the warm-up took all of warmup_steps (a share of 1.0).
SAVED_BEFORE_THE_KEY = {"warmup_share": 1.0}
_fingerprints: dict[tuple, str] = {}


def data_fingerprint(folder: Path) -> dict[str, str]:
    """sha256 of each split file's bytes (cached by size and mtime: the engine asks at every
    checkpoint)."""
    out = {}
    for name in DATA_FILES:
        path = folder / name
        try:
            st = path.stat()
        except OSError:
            out[name] = "missing"
            continue
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key not in _fingerprints:
            _fingerprints[key] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        out[name] = _fingerprints[key]
    return out


def _digest(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class RunConfig:
    profile: Profile
    model: str  # local folder or Hub id, as resolved
    data: str  # folder with train.jsonl / valid.jsonl
    run_id: str = ""
    auto_recover: bool = True
    events: bool = True  # per-step metric events (off only to measure their cost)
    created: float = 0.0  # unix time the run was created; kept when recovery rewrites this file
    ranks: int = 1  # data-parallel processes on this machine (ignored when `hosts` is set)
    hosts: str = ""  # an mlx.launch hostfile (JSON): one rank per host entry
    backend: str = (
        "ring"  # mlx.launch's distributed backend: ring (TCP), jaccl (Thunderbolt 5 RDMA), mpi
    )
    hang_timeout: float = (
        300.0  # seconds without an event while training before a distributed run is restarted
    )
    group: str = (
        ""  # the group of runs queued together, one per training seed (runs/group.py); "" = none
    )
    settings: dict = field(
        default_factory=dict
    )  # profile keys set over the profile (`train --set`, --iters)
    parent: str = ""  # RUN:CHECKPOINT this run builds on (`train --from`); "" = none
    init_adapter: str = (
        ""  # the adapter folder its LoRA weights start from; "" = freshly initialised
    )

    @property
    def distributed(self) -> bool:
        return self.ranks > 1 or bool(self.hosts)

    def to_dict(self) -> dict:
        return {
            "run": {
                "run_id": self.run_id,
                "model": self.model,
                "data": self.data,
                "auto_recover": self.auto_recover,
                "events": self.events,
                "created": self.created,
                "group": self.group,
                **({"set": self.settings} if self.settings else {}),
                **({"parent": self.parent} if self.parent else {}),
                **({"init_adapter": self.init_adapter} if self.init_adapter else {}),
            },
            "distributed": {
                "ranks": self.ranks,
                "hosts": self.hosts,
                "backend": self.backend,
                "hang_timeout": self.hang_timeout,
            },
            "profile": {"name": self.profile.name, **self.profile.to_toml_dict()},
        }

    def training_key(self) -> dict:
        """What must not change for a checkpoint to resume exactly: model and its precision, the
        data's content, schedule, LoRA shape and effective batch.

        Batch size, accumulation split, sequence cap, budget and bookkeeping may change on
        resume (recovery changes them on purpose); the effective batch may not.
        """
        p = self.profile
        return {
            "model": self.model,
            "base_precision": p.base_precision,
            "data": data_fingerprint(Path(self.data)),
            "effective_batch": p.effective_batch,
            **{k: getattr(p, k) for k in TRAINING_FIELDS},
            # apart from TRAINING_FIELDS: the legacy hash below predates it
            "warmup_share": p.warmup_share,
            # only when set, so the keys (and hashes) of earlier runs stay as they were
            **({"init_adapter": self.init_adapter} if self.init_adapter else {}),
            **({"fine_tune_type": p.fine_tune_type} if p.fine_tune_type != "lora" else {}),
            **({"objective": p.objective, "beta": p.beta} if p.objective != "sft" else {}),
        }

    def training_hash(self) -> str:
        return _digest(self.training_key())

    def resume_mismatch(self, saved_key: dict, saved_hash: str) -> str:
        """What changed since a checkpoint, in words; "" when it resumes exactly."""
        if (
            not saved_key
        ):  # saved before the key was recorded: only its hash, in the old form, to go by
            p = self.profile
            legacy = {
                "model": self.model,
                "data": self.data,
                "effective_batch": p.effective_batch,
                **{k: getattr(p, k) for k in TRAINING_FIELDS},
            }
            return (
                ""
                if _digest(legacy) == saved_hash
                else "model, data, schedule, LoRA shape or effective batch"
            )
        now = self.training_key()
        changes = []
        for key in now:
            before, after = saved_key.get(key, SAVED_BEFORE_THE_KEY.get(key)), now[key]
            if before == after:
                continue
            if key == "data":
                changed = [name for name in after if (before or {}).get(name) != after[name]]
                changes += [
                    f"{self.data}/{name} was edited since the checkpoint" for name in changed
                ]
            else:
                changes.append(f"{key} {before} → {after}")
        return "; ".join(changes)

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
        for key, value in SAVED_BEFORE_THE_KEY.items():  # a run written before the key existed
            prof.setdefault(key, value)
        return cls(
            profile=profile_from_dict(name, prof, source=f"{path} [profile]"),
            model=run["model"],
            data=run["data"],
            run_id=run.get("run_id", path.parent.name),
            auto_recover=run.get("auto_recover", True),
            events=run.get("events", True),
            created=run.get("created", 0.0),
            group=run.get("group", ""),
            settings=run.get("set", {}),
            parent=run.get("parent", ""),
            init_adapter=run.get("init_adapter", ""),
            **data.get("distributed", {}),
        )
