"""Starting a run, the same way from every front end: plan it (model, tokenizer, data check,
profile with its reason), then start the plan (run folder + supervisor process).

The CLI's `train` and the cockpit's Start both call `plan_run` and `start_plan`, so a run
started from either is checked, chosen and recorded alike; `queue_plan` queues one run of the
plan per training seed as a group (runs/group.py), each started the same way by the group's queue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from farense_tui.engine import paths
from farense_tui.engine.data.check import check_data, load_tokenizer_for
from farense_tui.engine.data.report import DataReport
from farense_tui.engine.errors import UserError
from farense_tui.engine.machine.hardware import Hardware, detect
from farense_tui.engine.models.local import resolve_model
from farense_tui.engine.profiles.choice import choose_profile
from farense_tui.engine.profiles.profile import Profile, available_profiles, load_profile
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.folder import create_run, new_run_id, start
from farense_tui.engine.runs.group import Group, create_group, start_queue
from farense_tui.engine.runs.launch import check_hosts
from farense_tui.engine.runs.lineage import Parent, check_same_base, inherit_lora
from farense_tui.engine.runs.run_folder import is_model_folder


@dataclass
class RunPlan:
    """Everything a run will train with, checked, before anything is written to runs/."""

    model: str  # the folder (or Hub id) mlx-lm loads
    data: Path
    profile: Profile  # with the caller's overrides applied
    reason: str  # why this profile, in words
    report: DataReport  # the data checked against this profile
    auto_recover: bool = True
    ranks: int = 1  # data-parallel processes on this machine
    hosts: str = ""  # an mlx.launch hostfile: one rank per host
    backend: str = "ring"
    settings: dict = field(
        default_factory=dict
    )  # the caller's overrides, named in the run's config
    parent: str = ""  # RUN:CHECKPOINT this run builds on (runs/lineage.py)
    init_adapter: str = ""  # the parent's adapter folder its LoRA weights start from; "" = fresh

    def config(self) -> RunConfig:
        return RunConfig(
            profile=self.profile,
            model=self.model,
            data=str(self.data),
            auto_recover=self.auto_recover,
            ranks=self.ranks,
            hosts=self.hosts,
            backend=self.backend,
            settings=dict(self.settings),
            parent=self.parent,
            init_adapter=self.init_adapter,
        )


def plan_run(
    model_spec: str | None,
    data: Path | None,
    profile: Profile | str | None = None,
    *,
    overrides: dict | None = None,
    hardware: Hardware | None = None,
    progress: Callable[[str], None] | None = None,
    auto_recover: bool = True,
    ranks: int = 1,
    hosts: str = "",
    backend: str = "ring",
    parent: Parent | None = None,
    fused: bool = False,
) -> RunPlan:
    """Resolve the model (fetching the demo model if asked for), check the data with its tokenizer,
    and take `profile` (a Profile as edited, or a name) or choose one for this machine, model and
    the data's padded length. Raises UserError, naming each problem, when the data is not ready
    or a host of `hosts` (an mlx.launch hostfile) cannot be reached.

    `parent` (runs/lineage.py): the run starts its LoRA weights as that adapter, on the parent's
    base and LoRA shape; with `fused`, `model_spec` is the parent's fused model and the adapter is
    new."""
    if hosts:
        check_hosts(
            hosts, backend
        )  # before anything is loaded or written: a clear message, not a hung launcher
    elif ranks < 1:
        raise UserError(f"ranks must be 1 or more, not {ranks}")
    whole = parent is not None and not fused and is_model_folder(parent.adapter)
    # a full fine-tune's best/final is a model already: the child trains on it, as on a fused one
    if whole:
        if model_spec:
            raise UserError(
                f"--from {parent.name} is a full fine-tune whose model the new run trains on: "
                "leave --model out"
            )
        model_spec = str(parent.adapter)
    builds_on = parent is not None and not fused and not whole
    if builds_on:
        model_spec = model_spec or parent.config.model
    model = resolve_model(model_spec, progress=progress)
    if builds_on:
        check_same_base(parent, model)
    data = (data or paths.data_dir()).resolve()
    tokenizer = load_tokenizer_for(model) if Path(model).is_dir() else None
    if profile is None:
        lengths = check_data(data, tokenizer)
        profile, reason = choose_profile(
            hardware or detect(),
            available_profiles(),
            model_spec=model,
            seq_len=lengths.padded_length(),
        )
    elif isinstance(profile, str):
        profile, reason = load_profile(profile), f"profile {profile} as named"
    else:
        reason = f"profile {profile.name} as set"
    if overrides:
        profile = profile.replace(**overrides)
    if builds_on:
        profile = inherit_lora(profile, parent, overrides or {})
    report = check_data(
        data,
        tokenizer,
        profile.max_seq_length,
        mask_prompt=profile.mask_prompt,
        batch_size=profile.batch_size,
    )
    if not report.ok:
        raise UserError("the data is not ready:\n  " + "\n  ".join(report.problem_lines()))
    hostfile = str(Path(hosts).resolve()) if hosts else ""
    return RunPlan(
        model,
        data,
        profile,
        reason,
        report,
        auto_recover,
        ranks,
        hostfile,
        backend,
        dict(overrides or {}),
        parent=parent.name if parent else "",
        init_adapter=str(parent.adapter) if builds_on else "",
    )


def start_plan(plan: RunPlan, runs_root: Path | None = None) -> Path:
    """Create the run folder for a plan and start its supervisor; returns the run folder."""
    run_dir = create_run(plan.config(), runs_root)
    start(run_dir)
    return run_dir


def queue_plan(
    plan: RunPlan, seeds: list[int], name: str = "", runs_root: Path | None = None
) -> Group:
    """A run of the plan per training seed, queued as a group, and the group's queue started."""
    cfg = plan.config()
    cfg.run_id = new_run_id(plan.model)
    group = create_group(cfg, seeds, name, runs_root)
    start_queue(group)
    return group
