"""Config's token panel: the first train example as the model sees it, its answer marked as trained;
an example that trains on nothing is shown as such and Start refuses it."""

from __future__ import annotations

import json

from textual.app import App
from textual.widgets import Input, Static

from farense_tui.engine.data.check import load_tokenizer_for
from farense_tui.engine.data.token_view import token_views
from farense_tui.tui.app import create_app
from farense_tui.tui.widgets.token_panel import TRAINED, TokenPanel, view_text
from tests import tiny_model
from tests.test_token_view import DROPS_ASSISTANT
from tests.tui.conftest import wait_until


def text(widget) -> str:
    return str(widget.render())


async def test_panel_marks_the_answer_as_trained(tiny_model_dir, tiny_data):
    views = token_views(tiny_data, load_tokenizer_for(tiny_model_dir), True, 256, count=1)

    class Host(App):
        def compose(self):
            yield TokenPanel()

    async with Host().run_test(size=(60, 20)) as pilot:
        panel = pilot.app.query_one(TokenPanel)
        panel.show(views)
        await pilot.pause()
        assert text(panel.query_one("#token-title")).startswith(
            "as trained: train.jsonl:1 · 31 tokens, 5 trained"
        )
        body = view_text(views[0])
        trained = [body.plain[s.start : s.end] for s in body.spans if s.style == TRAINED]
        assert "".join(trained) == "Em 1910.<|im_end|>\n"
        shown = text(panel.query_one("#token-text", Static))
        assert "Em que ano foi fundado o Farense? (0)" in shown and "Em 1910.<|im_end|>" in shown
        panel.show(None)
        await pilot.pause()
        assert (
            text(panel.query_one("#token-title")) == "as trained: no tokenizer for this model yet"
        )


async def test_config_shows_an_empty_mask_and_start_refuses_it(farense_home, home_model):
    (home_model / "chat_template.jinja").write_text(DROPS_ASSISTANT)
    config = json.loads((home_model / "tokenizer_config.json").read_text())
    if "chat_template" in config:
        (home_model / "tokenizer_config.json").write_text(
            json.dumps({**config, "chat_template": DROPS_ASSISTANT})
        )
    tiny_model.write_data(farense_home / "data")
    app = create_app(attach_live=False)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = app.screen
        screen.query_one("#model-path", Input).value = str(home_model)
        title = screen.query_one("#token-title", Static)
        await wait_until(pilot, lambda: "NOTHING TRAINED" in text(title), what="the token panel")
        assert text(title).startswith("as trained: train.jsonl:1 · ") and title.has_class(
            "-problem"
        )
        summary = screen.query_one("#data-summary", Static)
        assert "train.jsonl:1: nothing to train on: the chat template masks every token" in text(
            summary
        )
        await pilot.press("ctrl+s")
        refused = ("The data has problems", "the data is not ready")
        await wait_until(
            pilot,
            lambda: any(r in n.message for n in app._notifications for r in refused),
            what="the refusal",
        )
        assert not list((farense_home / "runs").iterdir())
