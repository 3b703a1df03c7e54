"""Shared fixtures. Tests are offline: real data sets come from the local cache that
`make test` fills (``ltvrec data fetch``) before pytest runs."""

from __future__ import annotations

import pandas as pd
import pytest

from ltvrec.interactions import Dataset, data_dir, load
from ltvrec.interactions.datasets import is_fetched


def _real(name: str) -> Dataset:
    if not is_fetched(name):
        pytest.fail(
            f"data set {name} is not in {data_dir()}; run `make data` "
            f"(or `ltvrec data fetch {name}`) first"
        )
    return load(name)


@pytest.fixture(scope="session")
def ml100k() -> Dataset:
    return _real("ml-100k")


@pytest.fixture(scope="session")
def obd() -> Dataset:
    return _real("obd")


def tiny_log_frame() -> pd.DataFrame:
    """Two users, four requests, slates of two; hand-checkable."""
    return pd.DataFrame(
        {
            "request_id": [1, 1, 2, 2, 3, 3, 4, 4],
            "user_id": [10, 10, 10, 10, 20, 20, 10, 10],
            "timestamp": [
                "2024-01-01T10:00:00Z",
                "2024-01-01T10:00:00Z",
                "2024-01-01T10:20:00Z",
                "2024-01-01T10:20:00Z",
                "2024-01-01T11:00:00Z",
                "2024-01-01T11:00:00Z",
                "2024-01-02T10:20:00Z",
                "2024-01-02T10:20:00Z",
            ],
            "item_id": [1, 2, 2, 3, 1, 3, 3, 1],
            "position": [0, 1, 0, 1, 0, 1, 0, 1],
            "click": [0, 1, 0, 0, 1, 0, 0, 0],
            "reward": [0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
            "pscore": [0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.4],
        }
    )


def tiny_catalog_frame() -> pd.DataFrame:
    return pd.DataFrame({"item_id": [1, 2, 3], "text": ["red shoes", "blue hat", "green scarf"]})
