"""Route `ollama`: the GGUF plus a Modelfile (FROM, chat TEMPLATE, the training system prompt,
stops).

Ollama's TEMPLATE is a Go template, not the model's Jinja one, and no library translates between
them. Known chat formats are written as role pieces; each is checked by rendering a conversation
with the pieces and with the model's own Jinja template (through its tokenizer) and comparing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from farense_tui.engine.data.system_message import training_system_message
from farense_tui.engine.errors import UserError
from farense_tui.engine.export.gguf import GGUF_NAME, write_gguf
from farense_tui.engine.export.plan import ExportPlan


@dataclass(frozen=True)
class ChatFormat:
    name: str
    begin: str  # before the first message (a BOS the template writes as text)
    turn: dict  # role -> (before content, after content)
    generation: str  # what starts the assistant's answer
    stops: tuple[str, ...]

    def render(self, messages: list[dict]) -> str:
        """The prompt as Ollama will build it with `go_template` (used to check the pieces)."""
        body = "".join(
            self.turn[m["role"]][0] + m["content"] + self.turn[m["role"]][1] for m in messages
        )
        return self.begin + body + self.generation

    def go_template(self) -> str:
        def turn(role: str, content: str) -> str:
            before, after = self.turn[role]
            return f"{_go(before)}{content}{_go(after)}"

        # No "{{-" trim markers: they would also eat the newline that ends each turn's text.
        return (
            f"{_go(self.begin)}{{{{ if .System }}}}{turn('system', '{{ .System }}')}{{{{ end }}}}"
            f'{{{{ range .Messages }}}}{{{{ if eq .Role "user" }}}}{turn("user", "{{ .Content }}")}'
            f'{{{{ else if eq .Role "assistant" }}}}{turn("assistant", "{{ .Content }}")}{{{{ end '
            f"}}}}"
            f"{{{{ end }}}}{_go(self.generation)}"
        )


def _go(text: str) -> str:
    """Literal text inside a Go template ("{{" would open an action)."""
    return text.replace("{{", '{{ "{{" }}')


FORMATS = (
    ChatFormat(
        "chatml",
        "",
        {r: (f"<|im_start|>{r}\n", "<|im_end|>\n") for r in ("system", "user", "assistant")},
        "<|im_start|>assistant\n",
        ("<|im_end|>",),
    ),
    ChatFormat(
        "llama3",
        "<|begin_of_text|>",
        {
            r: (f"<|start_header_id|>{r}<|end_header_id|>\n\n", "<|eot_id|>")
            for r in ("system", "user", "assistant")
        },
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
        ("<|eot_id|>",),
    ),
)


def chat_format(tokenizer, system: str | None) -> ChatFormat:
    """The known format whose rendering equals the model's own template for a two-turn
    conversation."""
    sample = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": "Quem foi Hassan Nader?"},
        {"role": "assistant", "content": "Um avançado do Farense."},
        {"role": "user", "content": "E de onde era?"},
    ]
    try:
        expected = tokenizer.apply_chat_template(sample, add_generation_prompt=True, tokenize=False)
    except Exception as exc:  # no template, or one that rejects this conversation
        raise UserError(
            f"the model's chat template cannot render a conversation ({exc}); no Modelfile TEMPLATE"
        ) from None
    for fmt in FORMATS:
        if fmt.render(sample) == expected:
            return fmt
    raise UserError(
        "the model's chat template is none that farense-tui can write for Ollama "
        f"({', '.join(f.name for f in FORMATS)}); use --to gguf and write the TEMPLATE by hand"
    )


def _quoted(text: str) -> str:
    if '"""' in text:
        raise UserError('the system prompt contains """, which a Modelfile cannot quote')
    return f'"""{text}"""'


def modelfile(fmt: ChatFormat, system: str | None, eos: str | None) -> str:
    stops = dict.fromkeys([*fmt.stops, *([eos] if eos else [])])
    lines = [f"FROM ./{GGUF_NAME}", f"TEMPLATE {_quoted(fmt.go_template())}"]
    if system:
        lines.append(f"SYSTEM {_quoted(system)}")
    lines += [f"PARAMETER stop {json.dumps(s, ensure_ascii=False)}" for s in stops]
    lines.append("PARAMETER temperature 0")
    return "\n".join(lines) + "\n"


def write_ollama(plan: ExportPlan, folder: Path, progress) -> tuple[str, str]:
    """GGUF + Modelfile in `folder`; returns (the check, the `ollama create` line)."""
    from mlx_lm.tokenizer_utils import load as load_tokenizer

    from farense_tui.engine.models.local import resolve_model

    system = training_system_message(Path(plan.config.data))
    tokenizer = load_tokenizer(Path(resolve_model(plan.base_model)))
    fmt = chat_format(tokenizer, system)  # before the long GGUF write: refuse early
    _, check = write_gguf(plan, folder, progress)
    (folder / "Modelfile").write_text(modelfile(fmt, system, tokenizer.eos_token), encoding="utf-8")
    name = f"{plan.run_dir.name}-{plan.checkpoint}".lower().replace("_", "-")  # Ollama: [a-z0-9._-]
    return (
        f"{check}; Modelfile template {fmt.name} matches the model's chat template",
        f"ollama create {name} -f {plan.out / 'Modelfile'}",
    )
