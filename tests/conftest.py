"""Shared fixtures. Tests are offline: real data sets come from the local cache that
`make test` fills (``ltvrec data fetch``) before pytest runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ltvrec.interactions import Dataset, data_dir, load
from ltvrec.interactions.datasets import is_fetched
from ltvrec.ope import Trajectories

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two pytest workers on two cores: one torch thread each. Two each
    # (TrainConfig's default) oversubscribe the cores and made the torch-heavy tests
    # 2-3x slower; no test depends on the thread count.
    import torch

    _set_threads = torch.set_num_threads
    _set_threads(1)
    torch.set_num_threads = lambda _n: _set_threads(1)  # type: ignore[assignment]
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # the command-line subprocesses


LONGEST_FIRST = (
    "test_closed_loop.py",
    "test_fitted_simulator.py",
    "test_sweep.py",
    "test_ensemble.py",
    "test_ope_report.py",
    "test_pipeline_experiment.py",
)
"""The test files that take most of a minute or more on 2 cores. pytest-xdist's
``--dist loadfile`` hands whole files to the two workers in collection order, so a long
file collected last keeps one worker busy while the other idles; started first, they
let the short files fill in around them. A stale list only changes the order."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: files keep order


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


def ltvrec(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the command line as a user would (a fresh process)."""
    return subprocess.run(
        [sys.executable, "-m", "ltvrec", *args], capture_output=True, text=True, timeout=300
    )


def ltvrec_here(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the command line in this process (``main()``, stdout and stderr captured):
    the same code path and error handling as :func:`ltvrec` without a new interpreter
    importing torch again, for the many one-line-error checks."""
    import contextlib
    import io

    from ltvrec import cli

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["ltvrec", *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            cli.main()
    except SystemExit as e:
        code = int(e.code or 0) if not isinstance(e.code, str) else 1
    finally:
        sys.argv = argv
    return subprocess.CompletedProcess(["ltvrec", *args], code, out.getvalue(), err.getvalue())


def hand_trajectories() -> Trajectories:
    """Two users whose estimator values are computed by hand in test_ope_sequential.

    User 0: rewards (1, 0, 2), ratios (2, 0.5, 1); user 1: reward (1), ratio (0.5)."""
    from ltvrec.ope import Trajectories

    return Trajectories(
        user=np.array([0, 0, 0, 1]),
        step=np.array([0, 1, 2, 0]),
        reward=np.array([1.0, 0.0, 2.0, 1.0]),
        behaviour=np.array([0.25, 0.5, 0.5, 0.5]),
        target=np.array([0.5, 0.25, 0.5, 0.25]),
    )


@pytest.fixture(scope="session")
def ml100k_small(ml100k: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with ml-100k's first 60 movies and their ratings: real titles for
    the tests that run the command line end to end, at a fraction of the cost."""
    from ltvrec.interactions import InteractionLog, ItemCatalog, write_catalog, write_log

    keep = set(ml100k.catalog.item_ids[:60])
    frame = ml100k.log.frame
    folder = tmp_path_factory.mktemp("ml100k-small")
    catalog = ml100k.catalog.frame[ml100k.catalog.frame["item_id"].isin(keep)]
    write_catalog(
        ItemCatalog.from_frame(catalog.reset_index(drop=True)), folder / "catalog.parquet"
    )
    log = frame[frame["item_id"].isin(keep)].reset_index(drop=True)
    write_log(InteractionLog.from_frame(log), folder / "log.parquet")
    return folder
