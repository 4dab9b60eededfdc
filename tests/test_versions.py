"""The versions written beside a result: a package without metadata is named, not fatal."""

from importlib.metadata import version

from farense_tui.engine.versions import versions


def test_a_package_without_metadata_is_recorded_as_not_installed():
    # An evaluation run from a checkout that was never pip-installed lost its whole result to this.
    assert versions("mlx", "no-such-package-farense") == {
        "mlx": version("mlx"),
        "no-such-package-farense": "not installed",
    }
