"""pytest plugin: every scenario of a call script is a test item (entry point ``pytest11``).

Which YAML files are call scripts: those :func:`ivr.scripts.loader.is_call_script` recognises
by their content (the rule ``ivr test`` uses for folders), and any YAML file named on the
command line. Other YAML files are left alone. Failures read as ``ivr test`` prints them;
``-k``, ``-x`` and ``--junitxml`` are pytest's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ..errors import IVRError
from .loader import SUFFIXES, Script, ScriptError, is_call_script, load_file
from .output import invalid
from .results import FAILED, SKIPPED, Result
from .runner import Runner, Target

_RUNNER = pytest.StashKey[Runner]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ivr", "call scripts (ivr test)")
    group.addoption("--call-url", metavar="URL", help="Run call scripts against this TwiML app.")
    group.addoption(
        "--call-auth-token", metavar="TOKEN", help="Sign requests to --call-url with this token."
    )
    group.addoption(
        "--call-menu", metavar="FILE", help="Menu for call scripts that name none (in-process)."
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "call_script: a scenario of an ivr call script")


def _runner(config: pytest.Config) -> Runner:
    if _RUNNER not in config.stash:
        config.stash[_RUNNER] = Runner(
            Target(
                url=config.getoption("--call-url"),
                auth_token=config.getoption("--call-auth-token"),
                menu=config.getoption("--call-menu"),
            )
        )
    return config.stash[_RUNNER]


def pytest_unconfigure(config: pytest.Config) -> None:
    runner = config.stash.get(_RUNNER, None)
    if runner is not None:
        runner.close()


def _named(config: pytest.Config, file: Path) -> bool:
    """Whether ``file`` itself was given on the command line."""
    base = Path(config.invocation_params.dir)
    for arg in config.args:
        given = Path(str(arg).split("::", 1)[0])
        given = given if given.is_absolute() else base / given
        if given.resolve() == file.resolve():
            return True
    return False


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix.lower() not in SUFFIXES:
        return None
    config = parent.config
    if _named(config, file_path) or is_call_script(file_path):
        return CallScriptFile.from_parent(parent, path=file_path)
    return None


class CallScriptFile(pytest.File):
    """A call script file: one item per scenario."""

    def collect(self) -> Any:
        try:
            scripts = load_file(self.path)
        except ScriptError as exc:
            raise self.CollectError(invalid(exc)) from None
        for script in scripts:
            yield CallScriptItem.from_parent(self, name=script.name, script=script)


class CallScriptFailed(IVRError):
    """A scenario that did not go as its script says (``result`` says how)."""

    def __init__(self, result: Result) -> None:
        super().__init__(result.message())
        self.result = result


class CallScriptItem(pytest.Item):
    """One scenario, placed as a simulated call."""

    def __init__(self, *, script: Script, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.script = script
        self.add_marker("call_script")

    def runtest(self) -> None:
        result = _runner(self.config).run(self.script)
        for name, text in (("transcript", "\n".join(result.transcript)),):
            self.add_report_section("call", name, text)
        if result.status == SKIPPED:
            pytest.skip(result.skip_reason or "skipped")
        if result.status == FAILED:
            raise CallScriptFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CallScriptFailed):
            return excinfo.value.result.message()
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.script.line - 1, f"call script: {self.script.name}"
