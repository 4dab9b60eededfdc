"""`train --set KEY=VALUE`: profile settings on the command line, checked like a profile file's
keys, trained with and named in the run's config."""

from __future__ import annotations

import json

import pytest

from farense_tui.cli.main import main
from farense_tui.engine import runs
from farense_tui.engine.errors import UserError
from farense_tui.engine.profiles.overrides import parse_setting, parse_settings
from farense_tui.engine.runs.config import RunConfig
from tests.engine_helpers import wait_done


@pytest.mark.parametrize(
    "line, expected",
    [
        ("learning_rate=1e-4", ("learning_rate", 1e-4)),
        ("learning_rate=1", ("learning_rate", 1.0)),
        ("lora_rank = 16", ("lora_rank", 16)),
        ("mask_prompt=false", ("mask_prompt", False)),
        ("base_precision=float32", ("base_precision", "float32")),
        ("base_precision=4bit", ("base_precision", "4bit")),
        ("lora_targets=q,v", ("lora_targets", ["q", "v"])),
        ('lora_targets=["q", "k"]', ("lora_targets", ["q", "k"])),
    ],
)
def test_values_are_read_as_a_shell_user_types_them(line, expected):
    assert parse_setting(line) == expected


@pytest.mark.parametrize(
    "line, words",
    [
        ("lora_rank=0", ["'lora_rank'", "from 1 to 1024"]),
        ("lora_rank=big", ["'lora_rank'", "a whole number"]),
        ("learning_rat=1e-4", ["unknown key 'learning_rat'", "learning_rate"]),
        ("base_precision=int3", ["'base_precision'", "one of 4bit"]),
        ("lora_targets=q,x", ["'lora_targets'", "a list drawn from"]),
        ("lora_rank", ["expected KEY=VALUE"]),
        ("name=mine", ["--profile"]),
    ],
)
def test_a_bad_setting_names_the_line_the_key_and_what_it_allows(line, words):
    with pytest.raises(UserError) as caught:
        parse_setting(line)
    assert str(caught.value).startswith(f"--set {line}")
    assert all(w in str(caught.value) for w in words), str(caught.value)


def test_the_same_key_twice_is_refused():
    with pytest.raises(UserError, match="given twice"):
        parse_settings(["lora_rank=4", "lora_rank=8"])


def test_cli_refuses_a_bad_setting_before_anything_starts(farense_home, capsys):
    assert main(["train", "--set", "lora_rank=0"]) == 2
    err = capsys.readouterr().err
    assert "--set lora_rank=0" in err and "from 1 to 1024" in err and "Traceback" not in err
    assert main(["train", "--iters", "5", "--set", "iters=6"]) == 2
    assert "both given" in capsys.readouterr().err
    assert main(["train", "--resume", "x", "--set", "lora_rank=4"]) == 2
    assert not any((farense_home / "runs").glob("2*"))


def test_a_run_trains_with_its_settings_and_names_them(
    tiny_model_dir, tiny_data, farense_home, capsys
):
    code = main(
        [
            "train",
            "--profile",
            "cpu",
            "--model",
            str(tiny_model_dir),
            "--data",
            str(tiny_data),
            "--iters",
            "4",
            "--set",
            "lora_rank=4",
            "--set",
            "learning_rate=0.002",
            "--set",
            "batch_size=2",
            "--set",
            "grad_accumulation=1",
            "--set",
            "lora_layers=-1",
            "--set",
            "save_every=2",
            "--set",
            "eval_every=2",
            "--set",
            "warmup_steps=0",
            "--detach",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "lora_rank=4, learning_rate=0.002" in out
    (run_dir,) = [p for p in (farense_home / "runs").iterdir() if p.is_dir()]
    cfg = RunConfig.load(run_dir / "config.toml")
    assert (
        cfg.profile.lora_rank == 4
        and cfg.profile.learning_rate == 0.002
        and cfg.profile.name == "cpu"
    )
    assert cfg.settings == {
        "lora_rank": 4,
        "learning_rate": 0.002,
        "batch_size": 2,
        "grad_accumulation": 1,
        "lora_layers": -1,
        "save_every": 2,
        "eval_every": 2,
        "warmup_steps": 0,
        "iters": 4,
    }
    info = wait_done(run_dir)
    assert info.status == "finished", runs.info(run_dir)
    adapter = json.loads((run_dir / "final" / "adapter_config.json").read_text())
    assert adapter["lora_parameters"]["rank"] == 4
