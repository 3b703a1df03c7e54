"""Logged data: the interaction schema, validation, IO, sessions, splits, data sets.

>>> from ltvrec.interactions import InteractionLog
>>> import pandas as pd
>>> log = InteractionLog.from_frame(pd.DataFrame({
...     "request_id": [1, 1, 2], "user_id": [7, 7, 7],
...     "timestamp": ["2024-01-01T10:00", "2024-01-01T10:00", "2024-01-01T12:00"],
...     "item_id": [3, 4, 3], "position": [0, 1, 0], "click": [0, 1, 0],
...     "reward": [0.0, 1.0, 0.0]}))
>>> log.n_requests, log.frame["session_id"].nunique()  # 2 hours apart: two sessions
(2, 2)
"""

from ltvrec.interactions.datasets import (
    RECIPES,
    DataFetchError,
    Dataset,
    data_dir,
    fetch,
    load,
    load_source,
)
from ltvrec.interactions.describe import describe_log
from ltvrec.interactions.io import read_catalog, read_log, write_catalog, write_log
from ltvrec.interactions.schema import (
    OPTIONAL_COLUMNS,
    PSCORE_COLUMNS,
    REQUIRED_COLUMNS,
    InteractionLog,
    ItemCatalog,
    LogValidationError,
)
from ltvrec.interactions.sessions import assign_sessions, return_gaps, session_table
from ltvrec.interactions.splits import Split, time_split, user_split

__all__ = [
    "OPTIONAL_COLUMNS",
    "PSCORE_COLUMNS",
    "RECIPES",
    "REQUIRED_COLUMNS",
    "DataFetchError",
    "Dataset",
    "InteractionLog",
    "ItemCatalog",
    "LogValidationError",
    "Split",
    "assign_sessions",
    "data_dir",
    "describe_log",
    "fetch",
    "load",
    "load_source",
    "read_catalog",
    "read_log",
    "return_gaps",
    "session_table",
    "time_split",
    "user_split",
    "write_catalog",
    "write_log",
]
