"""Where Textual and MLX may be imported: the engine never imports Textual, and what the cockpit
needs at start-up (machine, models listing, data checks, profiles, runs) never imports MLX, so
the cockpit opens without paying for MLX and a reader of the engine sees where MLX starts."""

import pkgutil
import subprocess
import sys

import pytest

import farense_tui.engine as engine

MLX_FREE = (
    "machine",
    "data",
    "profiles",
    "runs",
    "models.local",
    "models.demo",
    "chat.targets",
    "files",
    "paths",
    "errors",
    "chat.server",
    "export.plan",
    "export.staging",
    "export.provenance",
    "export.samples",
    "export.run",
    "evaluate.metrics",
    "evaluate.examples",
    "evaluate.summary",
    "evaluate.report",
    "evaluate.job",
    "export.routes",
    "export.job",
)
"""Engine packages and modules that must load without MLX; training/, chat/, model loading and the
evaluation process use it."""


def engine_modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(engine.__path__, "farense_tui.engine.")]


def imported_after(modules: list[str]) -> list[str]:
    """The top-level packages in sys.modules after importing `modules` in a fresh interpreter."""
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(' '.join(sorted({k.split('.')[0] for k in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_engine_imports_no_textual():
    modules = engine_modules()
    assert len(modules) >= 30
    assert "textual" not in imported_after(modules)


@pytest.mark.parametrize("name", MLX_FREE)
def test_startup_parts_import_no_mlx(name):
    prefix = f"farense_tui.engine.{name}"
    modules = [m for m in engine_modules() if m == prefix or m.startswith(prefix + ".")]
    assert modules, prefix
    loaded = imported_after(modules)
    assert "mlx" not in loaded and "mlx_lm" not in loaded and "textual" not in loaded


def test_every_engine_package_says_what_it_holds():
    for info in pkgutil.iter_modules(engine.__path__, "farense_tui.engine."):
        if info.ispkg:
            module = __import__(info.name, fromlist=["_"])
            assert module.__doc__ and module.__doc__.strip(), f"{info.name} has no docstring"


def test_cockpit_opens_without_mlx():
    """The App module (every screen) loads no MLX: chat and training load it in their own
    threads."""
    loaded = imported_after(["farense_tui.tui.app", "farense_tui.cli.main"])
    assert "textual" in loaded
    assert "mlx" not in loaded and "mlx_lm" not in loaded
