"""Export as a job (engine/export/job.py + process.py): its own process, its events followed
with `follow`, cancelled at its next step with nothing left at the output."""

from __future__ import annotations

import json

import pytest

from farense_tui.engine.errors import UserError
from farense_tui.engine.export import job as export_job
from farense_tui.engine.export.plan import plan_export
from farense_tui.engine.runs.events import read_all
from farense_tui.engine.runs.follow import follow
from farense_tui.engine.runs.run_folder import RunFolder
from tests.export_helpers import run_with_adapter


def followed(job: export_job.ExportJob) -> list[dict]:
    events: list[dict] = []
    follow(
        job.folder,
        events.extend,
        lambda: False,
        is_alive=export_job.is_alive,
        poll=(0.05, 0.05),
        until_ended=True,
    )
    return events


def test_a_peft_export_job_writes_its_steps_result_and_state(tiny_model_dir, tiny_data):
    run_dir = run_with_adapter(tiny_model_dir, tiny_data)
    plan = plan_export(run_dir, "peft")
    events = followed(export_job.start(plan))
    steps = [e["message"] for e in events if e["type"] == "progress"]
    assert steps[0] == f"exporting {run_dir.name}:best as peft → {plan.out}"
    assert len(steps) >= 2  # the route's own steps follow
    (done,) = [e for e in events if e["type"] == "export"]
    assert done["path"] == str(plan.out) and done["route"] == "peft"
    assert done["check"].startswith("W + (alpha/r)·B·A vs fused")
    assert done["command"].startswith("PeftModel.from_pretrained(")  # the route's next step
    assert events[-1]["type"] == "state" and events[-1]["state"] == "finished"
    assert (plan.out / "adapter_model.safetensors").is_file()
    assert (plan.out / "provenance.json").is_file()
    recorded = [e for e in read_all(RunFolder(run_dir).events) if e["type"] == "export"]
    assert recorded[-1]["path"] == str(plan.out)


def test_a_cancelled_export_job_stops_and_leaves_nothing(tiny_model_dir, tiny_data):
    run_dir = run_with_adapter(tiny_model_dir, tiny_data)
    plan = plan_export(run_dir, "gguf")
    job = export_job.start(plan)
    export_job.cancel(job)  # before its first step: the process takes a while to start
    events = followed(job)
    assert events[-1]["type"] == "state" and events[-1]["state"] == "stopped"
    assert "cancelled" in events[-1]["message"]
    assert not [e for e in events if e["type"] == "export"]
    assert not plan.out.exists()
    assert not list(plan.out.parent.glob(f".{plan.out.name}.partial-*"))


def test_a_damaged_job_file_fails_with_its_name(tiny_model_dir, tiny_data):
    run_dir = run_with_adapter(tiny_model_dir, tiny_data)
    plan = plan_export(run_dir, "peft")
    data = export_job.plan_to_json(plan)
    del data["route"]
    with pytest.raises(UserError, match=r"job\.json: expected the keys .*route"):
        export_job.plan_from_json(data, run_dir / "job.json")
    job = export_job.ExportJob.of(plan)
    job.folder.mkdir(parents=True)
    (job.folder / export_job.JOB).write_text(json.dumps(data))
    from farense_tui.engine.export.process import main

    assert main([str(job.folder)]) == 1
    last = read_all(job.events)[-1]
    assert last["state"] == "failed" and "job.json: expected the keys" in last["message"]
