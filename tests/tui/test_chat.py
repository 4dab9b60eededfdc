"""Chat screen in a tiny host App: a real tiny run's adapter (streaming, stop, side by side), model
output shown literally, and snapshots of a fixed conversation (with a scripted chat service)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.text import Text
from textual.widgets import Checkbox, Input, Select

from farense_tui.engine.chat.targets import TargetChoice, opening_choice
from farense_tui.tui.chat_text import literal_text
from farense_tui.tui.messages import ReplyFinished, TokenGenerated
from farense_tui.tui.screens.chat import ChatScreen
from farense_tui.tui.services.chat_session import ChatSession
from farense_tui.tui.services.serve_session import ServeSession
from farense_tui.tui.widgets.chat_message import ChatMessage, SideBySide
from tests import tiny_model
from tests.engine_helpers import start_run, tiny_config, wait_done
from tests.tui.host import CockpitHost

REPO = Path(__file__).resolve().parents[2]


class Host(CockpitHost):
    """Stands in for the app shell: owns the chat model and the adapter server as FarenseApp does,
    and shows one ChatScreen."""

    TITLE = "farense-tui"

    def __init__(self, **session_kwargs):
        super().__init__()
        self.chat = ChatSession(**session_kwargs)
        self.serving = ServeSession()
        self.seen: list = []  # TokenGenerated / ReplyFinished, in the order they were handled

    def on_mount(self) -> None:
        self.push_screen(ChatScreen())

    def on_unmount(self) -> None:
        self.chat.close()
        self.serving.close()


def record(app: Host):
    def hook(message):
        if isinstance(message, (TokenGenerated, ReplyFinished)):
            app.seen.append(message)

    return hook


async def wait_until(pilot, predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def choose(pilot, key: str) -> ChatScreen:
    screen = pilot.app.screen
    await wait_until(pilot, lambda: key in screen.choices, 30, "the target list")
    screen.query_one("#target", Select).value = key
    await wait_until(pilot, lambda: screen.loaded is not None, 60, "the model to load")
    return screen


async def ask(pilot, text: str, max_tokens: int = 24) -> None:
    screen = pilot.app.screen
    screen.query_one("#max_tokens", Input).value = str(max_tokens)
    prompt = screen.query_one("#prompt", Input)
    prompt.focus()
    prompt.value = text
    await pilot.press("enter")
    await wait_until(pilot, lambda: prompt.value == "", 10, "the prompt to be sent")


# -- a real tiny run
# --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tiny_model_dir, tmp_path_factory) -> Path:
    """One finished tiny run for the whole module (about 2 s on a free machine)."""
    home = tmp_path_factory.mktemp("chat-home")
    shutil.copytree(REPO / "profiles", home / "profiles")
    for sub in ("models", "runs", "data"):
        (home / sub).mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FARENSE_HOME", str(home))
        run_dir = start_run(
            tiny_config(tiny_model_dir, tiny_model.write_data(home / "data" / "tiny"))
        )
        assert wait_done(run_dir).status == "finished"
    return run_dir


@pytest.fixture
def run_dir(finished_run, farense_home) -> Path:
    return Path(shutil.copytree(finished_run, farense_home / "runs" / finished_run.name))


async def test_adapter_reply_streams_token_by_token(run_dir):
    app = Host()
    async with app.run_test(size=(100, 30), message_hook=record(app)) as pilot:
        screen = await choose(pilot, f"run:{run_dir}:best")
        labels = [c.label for c in screen.choices.values()]
        assert labels[:2] == [f"{run_dir.name} · best", f"{run_dir.name} · final"]
        assert f"{run_dir.name} · step 4" in labels
        assert screen.loaded == (f"{run_dir.name}:best", True)
        lengths = []
        asked = []
        service_ask = app.chat.service.ask
        app.chat.service.ask = lambda messages, **kw: (
            asked.append(messages),
            service_ask(messages, **kw),
        )
        app.seen.clear()
        await ask(pilot, "Quem foi Hassan Nader?")
        reply = screen.replies["adapter"]
        while screen.generating:
            lengths.append(len(reply.text))
            await pilot.pause(0.01)
        tokens = [m for m in app.seen if isinstance(m, TokenGenerated)]
        done = [m for m in app.seen if isinstance(m, ReplyFinished)]
        assert len(done) == 1 and app.seen[-1] is done[0]  # every token came before the end
        assert len(tokens) == done[0].tokens == reply.chunks >= 2
        assert reply.text == "".join(t.text for t in tokens)
        assert lengths == sorted(lengths)  # the reply only grew while it streamed
        assert "tokens" in reply.note and not reply.streaming
        assert [m["role"] for m in screen.messages] == ["user", "assistant"]

        await ask(pilot, "E onde joga o Farense?")  # a second turn sends the whole conversation
        await wait_until(pilot, lambda: not screen.generating, 60, "the second reply")
        assert [m["role"] for m in asked[-1]] == ["user", "assistant", "user"]
        assert len(screen.query(ChatMessage)) == 4
    assert app.chat.service is None  # closed on unmount


async def test_stop_key_stops_a_long_generation(home_model):
    """On the untrained base model, whose random tokens rarely reach end-of-sequence: an adapter
    trained to answer in a few words may finish before the key arrives."""
    app = Host()
    async with app.run_test(size=(100, 30), message_hook=record(app)) as pilot:
        screen = await choose(pilot, f"model:{home_model}")
        service = app.chat.service
        await ask(pilot, "Quem foi Hassan Nader?", max_tokens=100_000)
        await wait_until(pilot, lambda: len(app.seen) >= 3, 30, "a few tokens")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not screen.generating, 30, "the stop")
        done = [m for m in app.seen if isinstance(m, ReplyFinished)]
        assert done[-1].stopped and done[-1].tokens < 100_000
        assert "stopped" in screen.replies["adapter"].note
    assert not service._thread.is_alive()  # the MLX thread was joined


async def test_side_by_side_answers_with_base_and_adapter(run_dir):
    app = Host()
    async with app.run_test(size=(100, 30), message_hook=record(app)) as pilot:
        screen = await choose(pilot, f"run:{run_dir}:best")
        checkbox = screen.query_one("#side_by_side", Checkbox)
        assert not checkbox.disabled
        checkbox.value = True
        await ask(pilot, "Onde joga o Farense?", max_tokens=12)
        await wait_until(pilot, lambda: not screen.generating, 60, "both answers")
        pair = screen.query_one(SideBySide)
        base, adapter = pair.query(ChatMessage)
        assert (base.side, adapter.side) == ("base", "adapter")
        assert base.text and adapter.text and base.note and adapter.note
        assert [m.side for m in app.seen if isinstance(m, ReplyFinished)] == ["base", "adapter"]
        assert base.text != adapter.text  # LoRA off vs on: a trained adapter answers differently


# -- output as data
# ---------------------------------------------------------------------------------


def test_literal_text_shows_markup_and_escapes_as_written():
    text = literal_text("[bold]x[/bold] \x1b[31mred\x1b[0m\r\n\tok")
    assert text.plain == "[bold]x[/bold] \\x1b[31mred\\x1b[0m\\r\n\tok"
    assert all(span.style == "reverse dim" for span in text.spans)  # only the escapes are styled
    assert not any("bold" in str(span.style) for span in text.spans)
    assert "\x1b" not in text.plain
    assert literal_text("[/]").plain == "[/]"  # a lone closing tag is no error either


class ScriptedService:
    """A chat service that answers from a script on the calling thread: fast and deterministic."""

    def __init__(self, emit, script: dict[str, list[str]] | None = None):
        self.emit = emit
        self.script = script or {}
        self.asked: list[list[dict]] = []
        self.closed = False

    def load(self, target) -> None:
        self.emit({"type": "loading", "label": target.label})
        self.emit(
            {"type": "loaded", "label": target.label, "has_adapter": target.adapter is not None}
        )

    def ask(self, messages, sides=("adapter",), temperature=0.0, top_p=1.0, max_tokens=256) -> None:
        self.asked.append(list(messages))
        question = messages[-1]["content"]
        for side in sides:
            tokens = self.script.get(f"{side}:{question}", self.script.get(question, ["ok"]))
            for token in tokens:
                self.emit({"type": "token", "side": side, "text": token})
            self.emit(
                {
                    "type": "done",
                    "side": side,
                    "tokens": len(tokens),
                    "tps": 42.0,
                    "finish_reason": "stop",
                    "stopped": False,
                }
            )

    def stop_generation(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


SCRIPT = {
    "Quem foi Hassan Nader?": ["Um ", "avançado ", "marroquino ", "do ", "Farense", "."],
    "base:Quem foi Hassan Nader?": ["Não ", "sei", "."],
    "Mostra markup": ["[bold red]", "not bold", "[/]", " e ", "\x1b[31m", "not red", "\x1b[0m"],
}

FAKE_RUN = "20250101-120000-mistral-7b-4bit"


def scripted_targets(has_gpu: bool | None = None) -> list[TargetChoice]:
    adapter = SimpleNamespace(
        model="models/mistral-7b-4bit",
        adapter=Path("best"),
        precision="4bit",
        label=f"{FAKE_RUN}:best",
    )
    base = SimpleNamespace(
        model="models/mistral-7b-4bit",
        adapter=None,
        precision="4bit",
        label="mistral-7b-4bit (base)",
    )
    return [
        TargetChoice(f"run:{FAKE_RUN}:best", f"{FAKE_RUN} · best", lambda: adapter),
        TargetChoice("model:mistral-7b-4bit", "mistral-7b-4bit · base model (4bit)", lambda: base),
    ]


def scripted_host() -> Host:
    return Host(
        service_factory=lambda emit: ScriptedService(emit, SCRIPT), targets=scripted_targets
    )


async def test_markup_and_escapes_from_the_model_are_shown_literally():
    app = scripted_host()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await choose(pilot, f"run:{FAKE_RUN}:best")
        await ask(pilot, "Mostra markup")
        await wait_until(pilot, lambda: not screen.generating, 10, "the reply")
        reply = screen.replies["adapter"]
        assert reply.text == "[bold red]not bold[/] e \x1b[31mnot red\x1b[0m"
        shown = reply.content
        assert isinstance(shown, Text)
        assert "[bold red]not bold[/] e \\x1b[31mnot red\\x1b[0m" in shown.plain
        assert not any("red" in str(span.style) for span in shown.spans)
        service = app.chat.service
    assert service.closed


async def test_side_by_side_is_only_offered_for_an_adapter():
    app = scripted_host()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await choose(pilot, "model:mistral-7b-4bit")
        assert screen.query_one("#side_by_side", Checkbox).disabled
        screen.query_one("#side_by_side", Checkbox).value = True
        await ask(pilot, "Quem foi Hassan Nader?")
        await wait_until(pilot, lambda: not screen.generating, 10, "the reply")
        assert not screen.query(SideBySide)  # a base model has nothing to compare with
        assert screen.replies["adapter"].text == "Um avançado marroquino do Farense."


async def test_bad_sampling_settings_are_refused():
    app = scripted_host()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await choose(pilot, f"run:{FAKE_RUN}:best")
        screen.query_one("#top_p", Input).value = "1.5"
        prompt = screen.query_one("#prompt", Input)
        prompt.focus()
        prompt.value = "Quem foi Hassan Nader?"
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert not screen.generating and not screen.messages
        assert prompt.value == "Quem foi Hassan Nader?"  # kept, to send again once fixed


async def test_escape_leaves_the_text_box_when_nothing_streams():
    app = scripted_host()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await choose(pilot, f"run:{FAKE_RUN}:best")
        # focus() takes effect on a later turn of the message loop than the load notice
        await wait_until(
            pilot, lambda: isinstance(screen.focused, Input), 10, "the prompt to take focus"
        )
        await pilot.press("escape")
        # nothing focused, so the App's 1-4 keys switch screens again
        await wait_until(pilot, lambda: screen.focused is None, 10, "the prompt to let go of focus")


# -- snapshots
# --------------------------------------------------------------------------------------


async def _conversation(pilot, side_by_side: bool = False) -> None:
    screen = await choose(pilot, f"run:{FAKE_RUN}:best")
    if side_by_side:
        screen.query_one("#side_by_side", Checkbox).value = True
    for question in ("Quem foi Hassan Nader?", "Mostra markup"):
        await ask(pilot, question)
        await wait_until(pilot, lambda: not screen.generating, 10, "the reply")
    # On a busy machine the last reply's note and the scroll to the bottom can lag the end flag.
    await wait_until(
        pilot, lambda: not any(m.streaming for m in screen.query(ChatMessage)), 10, "the notes"
    )
    for box in screen.query(Input):
        box.cursor_blink = False  # a blinking cursor would be caught on or off by chance
    await pilot.wait_for_scheduled_animations()
    screen.query_one(
        "#prompt", Input
    ).cursor_blink = False  # the cursor always shown: no blink phase in the picture
    await pilot.pause(0.2)


def test_snapshot_chat_80x24(snap_compare):
    """Chat at 80x24 with the adapter of a run chosen: the target row, the sampling row (temp 0.0,
    top-p 1.0, max 24, base vs adapter unchecked), the system row (empty: this scripted target has
    no training system message, so the placeholder "no system message" shows), a conversation of two
    turns scrolled to the bottom whose last reply reads literally `[bold red]not bold[/] e
    \\x1b[31mnot red\\x1b[0m` (not bold, not red, escapes shown as text), the status line with the
    last reply's speed, the prompt, and a footer with esc Stop, ^l New chat, f5 Refresh list, f6
    Export and f7 Serve (the serving line above the conversation is hidden: no server runs)."""
    assert snap_compare(scripted_host(), terminal_size=(80, 24), run_before=_conversation)


def test_snapshot_chat_120x40(snap_compare):
    """The same conversation at 120x40 in side-by-side mode: each prompt answered twice, base model
    (adapter off) on the left, the adapter on the right, each with its token count and speed."""

    async def run_before(pilot):
        await _conversation(pilot, side_by_side=True)

    assert snap_compare(scripted_host(), terminal_size=(120, 40), run_before=run_before)


# -- opening ready
# ----------------------------------------------------------------------------------


async def test_chat_opens_with_the_active_runs_best_adapter_and_the_prompt_focused(
    finished_run, farense_home
):
    """4 → type → Enter: the active run's best adapter is loaded without choosing, even when a newer
    finished run exists; the prompt has the focus."""
    from farense_tui.tui.app import create_app

    runs_dir = farense_home / "runs"
    active = Path(shutil.copytree(finished_run, runs_dir / "20260101-100000-tiny"))
    shutil.copytree(
        finished_run, runs_dir / "20260102-100000-tiny"
    )  # newer, but not the active one
    app = create_app(attach_live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.attach(active)
        await pilot.press("4")
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await wait_until(pilot, lambda: screen.loaded is not None, 60, "the adapter to load")
        assert screen.target_key == f"run:{runs_dir / active.name}:best"
        assert screen.loaded == (f"{active.name}:best", True)
        await wait_until(
            pilot, lambda: screen.focused is screen.query_one("#prompt"), 10, "the prompt's focus"
        )
        await pilot.press(*"Onde joga?", "enter")
        await wait_until(pilot, lambda: screen.messages and not screen.generating, 60, "the reply")
        assert screen.messages[0] == {"role": "user", "content": "Onde joga?"}
        assert screen.replies["adapter"].text


def test_opening_choice_prefers_the_active_run_then_the_newest_finished(tmp_path):
    def adapters(run: str, finished: bool) -> list[TargetChoice]:
        return [
            TargetChoice(f"run:{tmp_path / run}:{w}", w, lambda: None, tmp_path / run, finished)
            for w in ("best", "final", "4")
        ]

    base = TargetChoice("model:m", "m", lambda: None)
    choices = (
        adapters("3-training", False) + adapters("2-new", True) + adapters("1-old", True) + [base]
    )
    assert opening_choice(choices, tmp_path / "1-old").key == f"run:{tmp_path / '1-old'}:best"
    assert opening_choice(choices, tmp_path / "3-training").key == f"run:{tmp_path / '2-new'}:best"
    assert opening_choice(choices, None).key == f"run:{tmp_path / '2-new'}:best"
    no_best = [c for c in choices if not c.key.endswith(":best")]
    assert opening_choice(no_best, None).key == f"run:{tmp_path / '2-new'}:final"
    assert opening_choice(adapters("3-training", False) + [base], None) is None


async def test_chat_screen_serves_and_exports_the_chosen_adapter(run_dir):
    """F7 starts mlx-lm's server for the chosen adapter and shows its URL and a curl line; F7 stops
    it. F6 opens the Export dialog for that adapter; a PEFT export runs in a worker, logs its steps
    and its check; a second one is refused (the folder exists) until "replace" is ticked."""
    from textual.widgets import Button, Log, Static

    from farense_tui.tui.dialogs.export import ExportDialog

    app = Host()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await choose(pilot, f"run:{run_dir}:best")
        await pilot.press("f7")
        line = screen.query_one("#serving", Static)
        await wait_until(
            pilot, lambda: "curl http://127.0.0.1:" in str(line.render()), 90, "the server"
        )
        server = app.serving.server
        assert server.answers() and f"serving {run_dir.name}:best on {server.url}" in str(
            line.render()
        )
        await pilot.press("f7")
        await wait_until(pilot, lambda: not line.display, 20, "the server to stop")
        assert server.process.poll() is not None and app.serving.server is None

        await pilot.press("f6")
        dialog = app.screen
        assert isinstance(dialog, ExportDialog) and dialog.run_dir == run_dir
        dialog.query_one("#route", Select).value = "peft"
        dialog.query_one("#export", Button).press()
        log = dialog.query_one(Log)
        await wait_until(
            pilot, lambda: any(line.startswith(("✓", "✗")) for line in log.lines), 60, "the export"
        )
        assert any(line.startswith("✓ W + (alpha/r)·B·A vs fused") for line in log.lines), log.lines
        assert (run_dir / "exports" / "best-peft" / "adapter_model.safetensors").is_file()
        dialog.query_one("#export", Button).press()
        await pilot.pause(0.1)
        assert "already exists: pass --force" in log.lines[-1]
        dialog.query_one("#force", Checkbox).value = True  # replace it
        before = len(log.lines)
        dialog.query_one("#export", Button).press()
        await wait_until(
            pilot,
            lambda: any(line.startswith(("✓", "✗")) for line in log.lines[before:]),
            60,
            "the second export",
        )
        assert log.lines[-2].startswith("✓ W + (alpha/r)·B·A vs fused")
        assert log.lines[-1].startswith(
            "next: PeftModel.from_pretrained("
        )  # how to load it, as the CLI says
        await pilot.press("escape")
        assert app.screen is screen


async def test_the_runs_training_system_message_is_shown_sent_and_editable():
    """Issue 9 item 6: a run's adapter is asked with the system message it trained with."""
    trained = "És um assistente que responde em português europeu sobre o Sporting Clube Farense."
    target = SimpleNamespace(
        model="models/mistral-7b-4bit",
        adapter=Path("best"),
        precision="4bit",
        label=f"{FAKE_RUN}:best",
        system=trained,
    )
    app = Host(
        service_factory=lambda emit: ScriptedService(emit, SCRIPT),
        targets=lambda has_gpu=None: [TargetChoice(f"run:{FAKE_RUN}:best", "best", lambda: target)],
    )
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await choose(pilot, f"run:{FAKE_RUN}:best")
        assert screen.query_one("#system", Input).value == trained
        await ask(pilot, "Quem foi Hassan Nader?")
        await wait_until(pilot, lambda: not screen.generating, 10, "the reply")
        assert app.chat.service.asked[-1][0] == {"role": "system", "content": trained}
        screen.query_one("#system", Input).value = ""
        await ask(pilot, "Quem foi Hassan Nader?")
        await wait_until(pilot, lambda: not screen.generating, 10, "the second reply")
        assert [m["role"] for m in app.chat.service.asked[-1]] == ["user", "assistant", "user"]
