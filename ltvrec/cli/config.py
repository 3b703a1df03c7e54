"""``ltvrec config show``: a config's fields, values and meanings."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ltvrec.cli._common import ConfigOpt, SetOpt, console
from ltvrec.names import CONFIGS

app = typer.Typer(help="Show configuration fields and defaults.", no_args_is_help=True)


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(CONFIGS)}.")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Show a config's fields, their values and what each one means."""
    from ltvrec.config import config_class, field_docs, load_config

    cls = config_class(name)
    cfg: object = load_config(cls, config, set_)
    docs = field_docs(cls)
    table = Table(title=cls.__name__, header_style="bold")
    for col in ("field", "value", "meaning"):
        table.add_column(col, overflow="fold")
    for key, value in vars(cfg).items():
        table.add_row(key, repr(value), docs.get(key, ""))
    console.print(table)
