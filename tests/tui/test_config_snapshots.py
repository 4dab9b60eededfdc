"""Screenshots of the Config screen on a fixed machine (16 GB Apple M1) with the tiny model and
data."""

from __future__ import annotations

import pytest

from farense_tui.tui.app import create_app
from tests import tiny_model
from tests.tui.conftest import wait_until


@pytest.fixture
def config_app(farense_home, home_model):
    tiny_model.write_data(farense_home / "data")
    return create_app(attach_live=False)


async def checked(pilot) -> None:
    """Wait until the hardware is shown and the data check (with the tiny tokenizer) is done for the
    profile chosen for this machine (a first check, with the first profile's sequence cap, may
    finish before the choice under load)."""
    screen = pilot.app.screen
    await wait_until(
        pilot,
        lambda: (
            pilot.app.hardware is not None
            and screen.report is not None
            and screen.report.max_seq_length == screen.profile.max_seq_length == 512
        ),
        what="hardware and data check",
    )
    await pilot.pause()


def test_config_80x24(snap_compare, config_app):
    """Config at 80x24 on a 16 GB Apple M1.

    Visible: the mode bar (1 Config highlighted) and "No active run" header; Machine with RAM
    16.0 GB total / 9.5 GB available, the chip, MLX gpu and Accelerate; Profile mac-16gb with
    "Auto: 16 GB RAM: 'mac-16gb' is the largest class…"; Model tiny-llama; Data "data" with the
    train/valid token counts from the tiny tokenizer; the Start and Save-as-profile buttons and
    the footer with ^s Start.
    """
    assert snap_compare(config_app, terminal_size=(80, 24), run_before=checked)


def test_config_120x40(snap_compare, config_app):
    """Config at 120x40: machine, profile, model and data on the left; every profile setting
    (name, value, what is allowed) on the right, mac-16gb's values (batch_size 4, ...). Under the
    data check, what it will cost: "24 examples: 3 steps/epoch, 9 steps (3 epochs)", "271
    tokens/step (batch 4×2)" and that no run of this model has measured the time per epoch yet.
    Under it, Ranks: "1" with backend ring and what the field takes (a number or a hostfile)."""
    assert snap_compare(config_app, terminal_size=(120, 40), run_before=checked)
