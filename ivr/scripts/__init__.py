"""Call scripts as tests: YAML scenarios run by the simulator, with menu coverage.

>>> from ivr.scripts import load_file, run_all
>>> results = run_all(load_file("tests/calls/report-crime.yaml"))
"""

from __future__ import annotations

from .loader import Script, ScriptError, discover, is_call_script, load_file, load_text
from .results import Failure, Result
from .runner import Runner, Target, run_all

__all__ = [
    "Failure",
    "Result",
    "Runner",
    "Script",
    "ScriptError",
    "Target",
    "discover",
    "is_call_script",
    "load_file",
    "load_text",
    "run_all",
]
