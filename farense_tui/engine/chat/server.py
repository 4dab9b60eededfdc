"""An OpenAI-compatible HTTP endpoint for a run's adapter: mlx-lm's server in its own process.

mlx-lm's server (`mlx_lm server --model BASE --adapter-path ADAPTER --host 127.0.0.1`), run through
openai_server.py so that it lists and answers only the run's model, serves /v1/chat/completions and
/v1/models; this starts it, waits until it lists that model, says how to call it and stops it. No
MLX in this process, so the cockpit can start and stop it from its UI thread.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from farense_tui.engine.errors import UserError
from farense_tui.engine.machine.blas import with_fast_blas
from farense_tui.engine.processes import OPENAI_SERVER

HOST = "127.0.0.1"  # loopback only: the server has no authentication
_QUOTE = "'\\''"  # a ' inside a shell's single quotes


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class AdapterServer:
    """One running `mlx_lm server`; `stop()` ends it (its whole process group)."""

    model: str
    adapter: Path | None  # None: a full fine-tune's model folder, served as it is
    port: int
    log: Path
    name: str  # the one model id it lists and answers, e.g. "RUN:best"
    check_messages: list[dict]  # the conversation the adapter must change the logits on
    system: str | None = None  # the training system prompt, for the example request
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def curl_example(self, question: str = "Quem foi Hassan Nader?") -> str:
        messages = ([{"role": "system", "content": self.system}] if self.system else []) + [
            {"role": "user", "content": question}
        ]
        body = json.dumps(
            {"model": self.name, "messages": messages, "temperature": 0, "max_tokens": 128},
            ensure_ascii=False,
        )
        quoted = body.replace("'", _QUOTE)
        return f"curl {self.url}/chat/completions -H 'Content-Type: application/json' -d '{quoted}'"

    def start(self, timeout: float = 120.0) -> "AdapterServer":
        command = [
            sys.executable,
            "-m",
            OPENAI_SERVER,
            "--served-name",
            self.name,
            "--check-messages",
            json.dumps(self.check_messages),
            "--model",
            self.model,
            *(["--adapter-path", str(self.adapter)] if self.adapter else []),
            "--host",
            HOST,
            "--port",
            str(self.port),
        ]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=with_fast_blas(dict(os.environ)),
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise UserError(
                    f"the server exited ({self.process.returncode}) before answering: "
                    f"{self._log_tail()}"
                )
            if self.answers():
                return self
            time.sleep(0.25)
        self.stop()
        raise UserError(f"the server did not answer within {timeout:.0f} s: {self._log_tail()}")

    def answers(self) -> bool:
        """Whether it lists our model (mlx-lm's own listing could answer 200 with an empty body)."""
        try:
            with urllib.request.urlopen(f"{self.url}/models", timeout=2) as response:
                listed = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return [m.get("id") for m in listed.get("data", [])] == [self.name]

    def adapter_check(self) -> str:
        """The server's line on whether the adapter changes the model's logits."""
        lines = self.log.read_text(errors="replace").splitlines()
        return next(
            (line for line in reversed(lines) if line.startswith("adapter check")),
            "adapter check: (no line in the log)",
        )

    def stop(self, timeout: float = 10.0) -> int | None:
        """Terminate, then kill if it does not go; returns its exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.terminate()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout)

    def _log_tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return f"{' / '.join(lines[-3:]) or '(empty log)'} (log: {self.log})"


def server_for_run(
    run_dir: Path, checkpoint: str = "best", port: int | None = None
) -> AdapterServer:
    """A server (not started) for one of a run's adapters; the same refusals as an export."""
    from farense_tui.engine.data.system_message import training_system_message
    from farense_tui.engine.export.plan import refuse_full_checkpoint
    from farense_tui.engine.export.samples import check_messages
    from farense_tui.engine.models.local import resolve_model
    from farense_tui.engine.runs.run_folder import RunFolder, is_model_folder

    run = RunFolder(run_dir)
    adapter = refuse_full_checkpoint(run, run.adapter(checkpoint, last=False), checkpoint)
    cfg = run.load_config()
    if is_model_folder(adapter):  # a full fine-tune's best/final: served as the model it is
        model, adapter = str(adapter), None
    else:
        model = resolve_model(cfg.model)
    return AdapterServer(
        model=model,
        adapter=adapter,
        port=port or free_port(),
        log=run_dir / "serve.log",
        name=f"{run_dir.name}:{checkpoint}",
        check_messages=check_messages(Path(cfg.data)),
        system=training_system_message(Path(cfg.data)),
    )
