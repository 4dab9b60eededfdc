"""Profile files: loading, validation messages, saving, and selection by detected RAM."""

from __future__ import annotations

import pytest

from farense_tui.engine.errors import UserError
from farense_tui.engine.machine.hardware import Hardware
from farense_tui.engine.profiles.choice import choose_profile
from farense_tui.engine.profiles.profile import (
    available_profiles,
    load_profile,
    load_profile_file,
    save_profile,
)


def machine(ram_gb: float, gpu: bool = True) -> Hardware:
    return Hardware(
        ram_gb, ram_gb * 0.7, 0.0, "Apple M1", "gpu" if gpu else "cpu", gpu, "Accelerate"
    )


def test_shipped_profiles_load():
    profiles = available_profiles()
    assert set(profiles) == {"cpu", "mac-8gb", "mac-16gb", "mac-32gb", "mac-64gb"}
    p16 = profiles["mac-16gb"]
    assert (p16.batch_size, p16.grad_accumulation, p16.max_seq_length) == (4, 2, 512)
    assert (p16.lora_rank, p16.lora_scale, p16.learning_rate) == (8, 16.0, 2e-4)
    p8 = profiles["mac-8gb"]
    assert (p8.batch_size, p8.grad_accumulation, p8.max_seq_length) == (2, 4, 256)
    p32 = profiles["mac-32gb"]
    assert (p32.batch_size, p32.max_seq_length) == (8, 1024)
    assert profiles["cpu"].base_precision == "float32"


@pytest.mark.parametrize(
    "ram,expected",
    [
        (8, "mac-8gb"),
        (16, "mac-16gb"),
        (24, "mac-16gb"),
        (32, "mac-32gb"),
        (64, "mac-64gb"),
        (192, "mac-64gb"),
    ],
)
def test_selection_by_ram(ram, expected):
    chosen, reason = choose_profile(machine(ram), available_profiles())
    assert chosen.name == expected
    assert expected in reason and f"{ram} GB" in reason


def test_no_gpu_picks_cpu_profile():
    chosen, reason = choose_profile(machine(24, gpu=False), available_profiles())
    assert chosen.name == "cpu" and "float32" in reason


def test_bad_values_name_file_key_and_expectation(farense_home):
    bad = farense_home / "profiles" / "broken.toml"
    bad.write_text('batch_size = "four"\n')
    with pytest.raises(
        UserError, match=r"broken\.toml: key 'batch_size' = 'four': expected a whole number"
    ):
        load_profile_file(bad)
    bad.write_text("lora_dropout = 1.5\n")
    with pytest.raises(UserError, match=r"lora_dropout.*from 0.0 to 0.9"):
        load_profile_file(bad)
    bad.write_text("batch_sise = 4\n")
    with pytest.raises(UserError, match=r"unknown key 'batch_sise'"):
        load_profile_file(bad)
    bad.write_text("lora_layers = 0\n")  # mlx-lm would adapt every block, full FT none
    with pytest.raises(UserError, match=r"lora_layers' = 0: .*at least -1 but not 0"):
        load_profile_file(bad)
    bad.write_text('lora_targets = ["q", "x"]\n')
    with pytest.raises(UserError, match=r"lora_targets.*drawn from q, k, v"):
        load_profile_file(bad)
    bad.write_text("batch_size = \n")
    with pytest.raises(UserError, match=r"broken\.toml: not valid TOML"):
        load_profile_file(bad)


def test_save_and_reload_roundtrip():
    mine = load_profile("mac-16gb").replace(name="my-16gb", batch_size=2, grad_accumulation=4)
    path = save_profile(mine)
    again = load_profile("my-16gb")
    assert path.name == "my-16gb.toml"
    assert again == mine


def test_replace_validates():
    with pytest.raises(UserError, match="batch_size"):
        load_profile("cpu").replace(batch_size=0)


def test_selection_with_unknown_model_falls_back_to_ram_class():
    chosen, reason = choose_profile(machine(16), available_profiles(), "nobody-here/not-downloaded")
    assert chosen.name == "mac-16gb"
    assert "16 GB RAM" in reason and "cannot be predicted" in reason


def test_selection_with_a_small_local_model_keeps_the_ram_class(tiny_model_dir):
    chosen, reason = choose_profile(machine(16), available_profiles(), str(tiny_model_dir))
    assert chosen.name == "mac-16gb"
    assert (
        "predicted to fit tiny-llama" in reason
        and "peak ≈" in reason
        and "12.8 GB usable" in reason
    )


def test_profiles_command_shows_predicted_peaks(tiny_model_dir, capsys):
    from farense_tui.cli.main import main

    assert main(["profiles", "--model", str(tiny_model_dir)]) == 0
    out = capsys.readouterr().out
    assert "peak" in out and "MLX peak" in out and "usable memory" in out
    assert "▶" in out and "Chosen:" in out
    assert "Predicted peak of" in out and "activations" in out and "logits" in out
    assert "Metal peaks were not measured" in out


def test_profiles_command_without_a_model(capsys):
    from farense_tui.cli.main import main

    assert main(["profiles"]) == 0  # the test home has no demo model
    out = capsys.readouterr().out
    assert "choosing by RAM class only" in out and "Chosen:" in out
    assert main(["profiles", "--model", "nobody-here/not-downloaded"]) == 0
    assert "cannot be predicted" in capsys.readouterr().out


def test_profiles_command_with_data_length(tiny_model_dir, capsys):
    from farense_tui.cli.main import main

    assert main(["profiles", "--model", str(tiny_model_dir), "--seq", "64"]) == 0
    out = capsys.readouterr().out
    assert "padded to 64 tokens" in out and "×64 tokens per micro-batch" in out
