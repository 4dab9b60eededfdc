"""Memory profiles: one TOML file per memory class in profiles/, validated, selectable, savable.

A profile holds every training hyperparameter plus what the memory class implies (base precision,
memory budget). Files are flat TOML; unknown keys and wrong types are errors that name the file,
the key and what was expected.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

import tomli_w

from farense_tui.engine import paths
from farense_tui.engine.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PRECISIONS = ("4bit", "8bit", "bfloat16", "float16", "float32")
BACKENDS = ("gpu", "cpu")
LORA_TARGETS = ("q", "k", "v", "o", "gate", "up", "down")
FINE_TUNE_TYPES = ("lora", "dora", "full")
OBJECTIVES = ("sft", "dpo", "orpo")


# What each setting is to a run (the "role" in its metadata), declared here once:
# what recovery and a profile switch change: taken from the new profile, shown in recovery events
MEMORY = "memory"
MACHINE = "machine"  # the memory class itself: taken from the new profile as it is
# what is trained: a run keeps it across a switch, and a checkpoint resumes only under it
RECIPE = "recipe"
ROUTINE = "routine"  # when it evaluates, saves and logs: a run keeps it across a switch


@dataclass
class Profile:
    """Every setting of a run that a memory class decides. Defaults are the M1 16 GB setup."""

    name: str = "custom"
    description: str = ""
    backend: str = field(
        default="gpu",
        metadata={"role": MACHINE, "choices": BACKENDS, "help": "gpu (Metal/CUDA) or cpu"},
    )
    min_ram_gb: float = field(
        default=16.0,
        metadata={"role": MACHINE, "min": 0.0, "help": "smallest RAM this class is for"},
    )
    memory_budget_gb: float = field(
        default=11.0,
        metadata={
            "role": MEMORY,
            "label": "budget GB",
            "min": 0.001,
            "help": "peak MLX memory allowed",
        },
    )
    base_precision: str = field(
        default="4bit", metadata={"role": RECIPE, "choices": PRECISIONS, "help": "base weights"}
    )
    batch_size: int = field(
        default=4, metadata={"role": MEMORY, "label": "batch", "min": 1, "max": 512}
    )
    grad_accumulation: int = field(
        default=2, metadata={"role": MEMORY, "label": "accumulation", "min": 1, "max": 1024}
    )
    learning_rate: float = field(default=2e-4, metadata={"role": RECIPE, "min": 1e-8, "max": 1.0})
    epochs: int = field(default=3, metadata={"role": RECIPE, "min": 1, "max": 1000})
    iters: int = field(
        default=0, metadata={"role": RECIPE, "min": 0, "help": "optimizer steps; 0 = use epochs"}
    )
    warmup_steps: int = field(default=100, metadata={"role": RECIPE, "min": 0})
    # A warm-up sized for long runs would take most of a short one (mac's 100 of the demo's 111
    # steps).
    warmup_share: float = field(
        default=0.1,
        metadata={
            "role": RECIPE,
            "min": 0.0,
            "max": 1.0,
            "help": "most of the run's steps the warm-up may take",
        },
    )
    weight_decay: float = field(default=0.0, metadata={"role": RECIPE, "min": 0.0, "max": 1.0})
    max_seq_length: int = field(
        default=512, metadata={"role": MEMORY, "label": "sequence", "min": 16, "max": 131072}
    )
    fine_tune_type: str = field(
        default="lora",
        metadata={
            "role": RECIPE,
            "choices": FINE_TUNE_TYPES,
            "help": "dora: LoRA plus a learned magnitude per output (mlx-lm's DoRA; more memory "
            "per step); "
            "full: every weight of the last lora_layers blocks, on a float base (a 4/8-bit one is "
            "dequantized)",
        },
    )
    lora_rank: int = field(default=8, metadata={"role": RECIPE, "min": 1, "max": 1024})
    lora_scale: float = field(default=16.0, metadata={"role": RECIPE, "min": 0.0, "max": 1000.0})
    lora_dropout: float = field(default=0.0, metadata={"role": RECIPE, "min": 0.0, "max": 0.9})
    lora_targets: list = field(
        default_factory=lambda: list(LORA_TARGETS),
        metadata={"role": RECIPE, "subset_of": LORA_TARGETS},
    )
    # 0 is refused: mlx-lm's linear_to_lora_layers takes layers[-0:] (every block) while a full
    # fine-tune of the last 0 blocks trains none; neither is what 0 says.
    lora_layers: int = field(
        default=-1,
        metadata={"role": RECIPE, "min": -1, "not": 0, "help": "last N blocks; -1 = all"},
    )
    grad_checkpoint: bool = field(default=False, metadata={"role": MACHINE})
    mask_prompt: bool = field(
        default=True, metadata={"role": RECIPE, "help": "loss on assistant tokens only"}
    )
    objective: str = field(
        default="sft",
        metadata={
            "role": RECIPE,
            "choices": OBJECTIVES,
            "help": "sft: next-token loss; dpo, orpo: preference pairs {prompt, chosen, rejected}",
        },
    )
    beta: float = field(
        default=0.1,
        metadata={
            "role": RECIPE,
            "min": 0.0,
            "max": 100.0,
            "help": "DPO's beta; ORPO's lambda (weight of its odds-ratio term)",
        },
    )
    save_every: int = field(default=200, metadata={"role": ROUTINE, "min": 1})
    eval_every: int = field(default=200, metadata={"role": ROUTINE, "min": 1})
    log_every: int = field(default=10, metadata={"role": ROUTINE, "min": 1})
    val_batches: int = field(
        default=-1, metadata={"role": ROUTINE, "min": -1, "help": "-1 = the whole valid split"}
    )
    early_stop_patience: int = field(
        default=0, metadata={"role": ROUTINE, "min": 0, "help": "evaluations; 0 = off"}
    )
    seed: int = field(default=0, metadata={"role": RECIPE, "min": 0})

    @property
    def effective_batch(self) -> int:
        return self.batch_size * self.grad_accumulation

    def warmup_for(self, total_steps: int) -> int:
        """The warm-up the schedule uses: warmup_steps, but at most warmup_share of the run's steps,
        and always ending before the last step so the peak is reached."""
        return max(min(self.warmup_steps, int(self.warmup_share * total_steps), total_steps - 1), 0)

    @property
    def train_precision(self) -> str:
        """The base's precision as trained: quantized weights cannot be trained, so full fine-tuning
        dequantizes a 4/8-bit base (float32 on cpu, where bfloat16 matmuls are slow; else
        bfloat16)."""
        if self.fine_tune_type != "full" or self.base_precision not in ("4bit", "8bit"):
            return self.base_precision
        return "float32" if self.backend == "cpu" else "bfloat16"

    def to_toml_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "name"}

    def replace(self, **changes) -> "Profile":
        new = dataclasses.replace(self, **changes)
        validate(new, source=f"profile {self.name!r}")
        return new


FIELDS = {f.name: f for f in fields(Profile)}


def fields_of(role: str) -> tuple[str, ...]:
    """The settings with that role, in the profile's order."""
    return tuple(name for name, f in FIELDS.items() if f.metadata.get("role") == role)


MEMORY_FIELDS = fields_of(MEMORY)
RECIPE_FIELDS = fields_of(RECIPE)


def describe_field(name: str) -> str:
    """What a field allows, in words: used by error messages and the Config screen."""
    f = FIELDS[name]
    meta = f.metadata
    kind = {
        int: "a whole number",
        float: "a number",
        bool: "true or false",
        str: "text",
        list: "a list",
    }[_field_type(f)]
    parts = [kind]
    if "choices" in meta:
        parts = ["one of " + ", ".join(meta["choices"])]
    if "subset_of" in meta:
        parts = ["a list drawn from " + ", ".join(meta["subset_of"])]
    if "min" in meta and "max" in meta:
        parts.append(f"from {meta['min']} to {meta['max']}")
    elif "min" in meta:
        parts.append(f"at least {meta['min']}")
    if "not" in meta:
        parts.append(f"but not {meta['not']}")
    if "help" in meta:
        parts.append(f"({meta['help']})")
    return " ".join(parts)


def _field_type(f) -> type:
    return {"int": int, "float": float, "bool": bool, "str": str, "list": list}[
        f.type if isinstance(f.type, str) else f.type.__name__
    ]


def coerce_value(name: str, value, source: str = "input"):
    """Check one value for field `name`; returns it (ints accepted for floats) or raises
    UserError."""
    if name not in FIELDS:
        known = ", ".join(FIELDS)
        raise UserError(f"{source}: unknown key {name!r}; known keys are: {known}")
    f = FIELDS[name]
    want = _field_type(f)
    meta = f.metadata
    bad = UserError(f"{source}: key {name!r} = {value!r}: expected {describe_field(name)}")
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if want is int and isinstance(value, bool) or not isinstance(value, want):
        raise bad
    if "choices" in meta and value not in meta["choices"]:
        raise bad
    if "subset_of" in meta and (not value or any(v not in meta["subset_of"] for v in value)):
        raise bad
    if "min" in meta and value < meta["min"] or "max" in meta and value > meta["max"]:
        raise bad
    if "not" in meta and value == meta["not"]:
        raise bad
    return value


def validate(profile: Profile, source: str) -> None:
    for f in fields(profile):
        if f.name != "name":
            coerce_value(f.name, getattr(profile, f.name), source)


def profile_from_dict(name: str, data: dict, source: str) -> Profile:
    values = {key: coerce_value(key, value, source) for key, value in data.items() if key != "name"}
    return Profile(name=name, **values)


def load_profile_file(path: Path) -> Profile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return profile_from_dict(path.stem, data, source=str(path))


def available_profiles(folder: Path | None = None) -> dict[str, Profile]:
    """Every valid profile in the folder, by name (sorted by memory class)."""
    folder = folder or paths.profiles_dir()
    found = [load_profile_file(p) for p in sorted(folder.glob("*.toml"))]
    return {p.name: p for p in sorted(found, key=lambda p: (p.backend, p.min_ram_gb))}


def load_profile(name_or_path: str) -> Profile:
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        return load_profile_file(path)
    candidate = paths.profiles_dir() / f"{name_or_path}.toml"
    # A profile name names a file in profiles/; `../x` does not reach out of it.
    if candidate.resolve().parent == paths.profiles_dir().resolve() and candidate.exists():
        return load_profile_file(candidate)
    names = ", ".join(available_profiles()) or "none found"
    raise UserError(
        f"no profile named {name_or_path!r} in {paths.profiles_dir()}; available: {names}"
    )


def save_profile(profile: Profile, folder: Path | None = None) -> Path:
    """Write a profile as TOML (tomli-w); the file name is the profile's name."""
    validate(profile, source=f"profile {profile.name!r}")
    if not profile.name.replace("-", "").replace("_", "").isalnum():
        raise UserError(f"profile name {profile.name!r}: use letters, digits, '-' and '_' only")
    folder = folder or paths.profiles_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{profile.name}.toml"
    path.write_text(tomli_w.dumps(profile.to_toml_dict()), encoding="utf-8")
    return path
