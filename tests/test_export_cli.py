"""`farense-tui export` and `serve` as a user types them: what they print, and a clear refusal
(exit 2, no traceback) for a run without an adapter or an output that exists."""

from __future__ import annotations

from farense_tui.cli.main import main
from farense_tui.engine import runs
from tests.engine_helpers import tiny_config
from tests.export_helpers import run_with_adapter


def test_export_prints_the_check_and_refuses_to_overwrite(tiny_model_dir, tiny_data, capsys):
    run_dir = run_with_adapter(tiny_model_dir, tiny_data)
    assert main(["export", run_dir.name, "--to", "peft"]) == 0
    out = capsys.readouterr().out
    folder = run_dir / "exports" / "best-peft"
    assert f"as peft → {folder}" in out
    assert "check: W + (alpha/r)·B·A vs fused, Hugging Face layout: 10 modules" in out
    assert (
        f"next: "
        f'PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("{tiny_model_dir}"), '
        f'"{folder}")' in out
    )
    assert f"provenance: {folder / 'provenance.json'}" in out

    assert main(["export", run_dir.name, "--to", "peft"]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"farense-tui: {folder} already exists: pass --force to replace it, or --out another "
        f"folder\n"
    )
    assert main(["export", run_dir.name, "--to", "peft", "--force"]) == 0


def test_export_and_serve_refuse_a_run_without_adapter(tiny_model_dir, tiny_data, capsys):
    empty = runs.create_run(tiny_config(tiny_model_dir, tiny_data))
    for command in (["export", empty.name, "--to", "fused"], ["serve", empty.name]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert (
            err.startswith(f"farense-tui: run {empty.name} has no adapter yet")
            and "Traceback" not in err
        )
