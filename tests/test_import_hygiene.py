"""The engine runs headless: importing all of it must not pull in Textual."""

import pkgutil
import subprocess
import sys

import farense_tui.engine as engine


def test_engine_imports_no_textual():
    modules = [f"farense_tui.engine.{m.name}" for m in pkgutil.iter_modules(engine.__path__)]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(k for k in sys.modules if k == 'textual' or k.startswith('textual.'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert len(modules) >= 5
