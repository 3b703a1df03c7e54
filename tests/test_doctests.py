"""The runnable >>> examples in public docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "ltvrec.config",
    "ltvrec.interactions",
    "ltvrec.interactions.schema",
    "ltvrec.encoders.text",
    "ltvrec.encoders.cache",
    "ltvrec.encoders.state",
    "ltvrec.simulators.known_world",
    "ltvrec.simulators.consequence",
    "ltvrec.envs",
    "ltvrec.envs.spaces",
    "ltvrec.envs.sb3",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
