"""Which settings are memory and which are recipe is declared once, on the profile: a switch or a
downshift takes the memory class and keeps the recipe, and a checkpoint resumes only under it."""

from __future__ import annotations

from farense_tui.engine.profiles.downshift import adopt, downshift, settings
from farense_tui.engine.profiles.profile import (
    FIELDS,
    MEMORY_FIELDS,
    RECIPE_FIELDS,
    available_profiles,
    load_profile,
)
from farense_tui.engine.runs.config import RunConfig


def test_every_setting_has_a_role():
    assert [name for name, f in FIELDS.items() if "role" not in f.metadata] == [
        "name",
        "description",
    ]
    assert set(MEMORY_FIELDS) == {
        "batch_size",
        "grad_accumulation",
        "max_seq_length",
        "memory_budget_gb",
    }
    assert settings(load_profile("cpu")).keys() == {"profile", *MEMORY_FIELDS}


def test_a_switch_keeps_the_whole_recipe_dora_included():
    dora = load_profile("mac-16gb").replace(
        fine_tune_type="dora", lora_rank=4, learning_rate=3e-4, save_every=7
    )
    switched = adopt(dora, load_profile("mac-8gb"))
    assert {k: getattr(switched, k) for k in RECIPE_FIELDS} == {
        k: getattr(dora, k) for k in RECIPE_FIELDS
    }
    assert (
        switched.save_every == 7
        and switched.memory_budget_gb == load_profile("mac-8gb").memory_budget_gb
    )
    run = RunConfig(profile=dora, model="m", data="d")
    assert RunConfig(profile=switched, model="m", data="d").training_key() == run.training_key()
    smaller = dora.replace(batch_size=1, max_seq_length=64)
    shifted, change = downshift(smaller, available_profiles())
    assert change.startswith("profile mac-16gb→") and shifted.fine_tune_type == "dora"
