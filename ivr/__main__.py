"""``python -m ivr``: the ``ivr`` command."""

from .cli import cli

cli(prog_name="ivr")
