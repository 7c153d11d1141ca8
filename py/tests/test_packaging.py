"""The licence the manifests declare ships as files, identical in the repository and in py/."""

from __future__ import annotations

import pathlib
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]
PY = ROOT / "py"


def test_licence_files_match_the_declared_expression() -> None:
    project = tomllib.loads((PY / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT OR Apache-2.0"
    assert "MIT OR Apache-2.0" in (ROOT / "Cargo.toml").read_text()
    for name in project["license-files"]:
        assert (PY / name).read_text() == (ROOT / name).read_text(), name
    assert "Permission is hereby granted" in (ROOT / "LICENSE-MIT").read_text()
    assert "Apache License" in (ROOT / "LICENSE-APACHE").read_text()
    assert (PY / project["readme"]).is_file()
    assert set(project["urls"]) >= {"Homepage", "Repository", "Changelog", "Issues"}
