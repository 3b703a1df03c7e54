"""ltvrec: optimise the long-term value of recommendations.

From logged interactions, build a user simulator (a Gymnasium environment whose state
is encoded by a pretrained language model), train PPO slate policies for discounted
long-term user value, evaluate them off-policy, and export them to serving.
See shared/DESIGN.md for the map; ``ltvrec --help`` for the command line.
"""

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

try:
    __version__ = version("ltvrec")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

# The root folders (interactions/, encoders/, ...) install as ltvrec.<folder> through a
# package-dir mapping. When Python imports this folder straight from a checkout (e.g.
# `python -c ...` run in the repo root puts the root first on sys.path), let the same
# names resolve to the sibling folders, so the checkout behaves like the install.
_root = Path(__file__).absolute().parent.parent
if (_root / "pyproject.toml").is_file() and (_root / "interactions").is_dir():
    __path__.append(str(_root))

__all__ = ["__version__"]
