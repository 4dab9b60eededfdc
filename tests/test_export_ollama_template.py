"""The Modelfile's TEMPLATE rendered by Go's own text/template (tests/gotemplate/render.go), as
Ollama renders a chat, gives token for token the prompt the model's Hugging Face chat template
gives. Ollama puts the Modelfile's SYSTEM first when a request has no system message, and passes
the system messages' text as .System (messages keep their roles)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from mlx_lm.tokenizer_utils import load as load_tokenizer

from farense_tui.engine.export.plan import plan_export
from farense_tui.engine.export.run import run_export
from tests.export_helpers import run_with_adapter

RENDER = Path(__file__).parent / "gotemplate" / "render.go"
SYSTEM = "És um assistente sobre o Farense."
ONE = [{"role": "user", "content": "Quem foi Hassan Nader?"}]
TWO = [
    *ONE,
    {"role": "assistant", "content": "Um avançado do Farense."},
    {"role": "user", "content": "E de onde era?"},
]

pytestmark = pytest.mark.skipif(
    shutil.which("go") is None, reason="needs Go (./install.sh --dev installs golang-go)"
)


def go_render(template: str, system: str, messages: list[dict], tmp: Path) -> str:
    request = json.dumps({"template": template, "system": system, "messages": messages})
    done = subprocess.run(
        ["go", "run", str(RENDER)],
        input=request,
        capture_output=True,
        text=True,
        check=True,
        env={
            "PATH": "/usr/bin:/bin:/usr/local/go/bin",
            "HOME": str(tmp),
            "GOCACHE": str(tmp / "gocache"),
            "GOPATH": str(tmp / "gopath"),
        },
        timeout=300,
    )
    return done.stdout


def ollama_prompt(modelfile: str, messages: list[dict], tmp: Path) -> str:
    """What Ollama sends the model for a chat request of `messages`."""
    template = re.search(r'^TEMPLATE """(.*?)"""$', modelfile, re.S | re.M).group(1)
    default = re.search(r'^SYSTEM """(.*?)"""$', modelfile, re.S | re.M)
    if default and not any(m["role"] == "system" for m in messages):
        messages = [{"role": "system", "content": default.group(1)}, *messages]
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    return go_render(template, system, messages, tmp)


def test_modelfile_template_renders_the_chat_template_token_for_token(
    tiny_model_dir, tiny_data, tmp_path
):
    rows = [json.loads(line) for line in (tiny_data / "train.jsonl").read_text().splitlines()]
    (tiny_data / "train.jsonl").write_text(
        "".join(
            json.dumps(
                {"messages": [{"role": "system", "content": SYSTEM}, *r["messages"]]},
                ensure_ascii=False,
            )
            + "\n"
            for r in rows
        )
    )
    modelfile = (
        run_export(plan_export(run_with_adapter(tiny_model_dir, tiny_data), "ollama")).path
        / "Modelfile"
    ).read_text()
    tokenizer = load_tokenizer(tiny_model_dir)
    other = [{"role": "system", "content": "Responde em inglês."}]
    for asked, expected in [
        (ONE, [{"role": "system", "content": SYSTEM}, *ONE]),
        (TWO, [{"role": "system", "content": SYSTEM}, *TWO]),
        (other + ONE, other + ONE),
        (other + TWO, other + TWO),
    ]:
        ours = tokenizer.encode(ollama_prompt(modelfile, asked, tmp_path), add_special_tokens=False)
        theirs = list(tokenizer.apply_chat_template(expected, add_generation_prompt=True))
        assert ours == theirs, (asked, tokenizer.decode(ours), tokenizer.decode(theirs))
