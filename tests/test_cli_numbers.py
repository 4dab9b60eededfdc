"""Every numeric option refuses zero, negative, absurd and non-numbers before anything starts."""

from __future__ import annotations

import pytest

from farense_tui.cli.main import main

BAD = [
    ("train", "--epochs", "0", "expected a whole number from 1 to 1000, got 0"),
    ("train", "--epochs", "-2", "from 1 to 1000, got -2"),
    ("train", "--iters", "0", "from 1 to 10000000, got 0"),
    ("train", "--iters", "ten", "expected a whole number, got 'ten'"),
    ("chat", "--temperature", "-1", "from 0.0 to 5.0, got -1"),
    ("chat", "--temperature", "nan", "got nan"),
    ("chat", "--top-p", "0", "over 0.0 and up to 1.0, got 0"),
    ("chat", "--max-tokens", "1000000000", "from 1 to 100000"),
    ("profiles", "--seq", "-5", "from 16 to 131072, got -5"),
    ("data check", "--max-seq-length", "0", "from 1 to 131072, got 0"),
    ("data check", "--max-problems", "0", "from 1 to 100000, got 0"),
]


@pytest.mark.parametrize("command,option,value,said", BAD)
def test_bad_number_is_a_usage_error_naming_the_option(
    command, option, value, said, capsys, farense_home
):
    with pytest.raises(SystemExit) as exited:
        main([*command.split(), option, value])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}:" in err and said in err, err
    assert not any((farense_home / "runs").iterdir())  # nothing started
