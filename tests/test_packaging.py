"""One import namespace: the root folders install as ltvrec.<folder>, nothing else."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import ltvrec

FOLDERS = ["interactions", "encoders", "simulators", "envs", "agents", "ope", "serving"]


@pytest.mark.parametrize("folder", FOLDERS)
def test_folder_imports_under_ltvrec(folder: str) -> None:
    module = importlib.import_module(f"ltvrec.{folder}")
    assert module.__file__ is not None and f"{folder}/__init__.py" in module.__file__
    assert module.__doc__


def test_no_generic_top_level_names_are_installed(tmp_path: Path) -> None:
    # Run from a neutral folder so the checkout is not on sys.path.
    code = f"import importlib.util as u; print([n for n in {FOLDERS!r} if u.find_spec(n)])"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.stdout.strip() == "[]"


def test_py_typed_ships() -> None:
    from importlib.resources import files

    assert files(ltvrec).joinpath("py.typed").is_file()
