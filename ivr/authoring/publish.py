"""Publishing a draft menu: check it, then replace the live file atomically.

The previous file is kept, so that a rollback is one command.

The live file is never half-written: the new text goes to a temporary file beside it, is
flushed to disk, and is renamed over the old one (``os.replace``), so the running app's live
reload sees the old menu or the new one, never a mixture. The file it replaces is kept beside
it as ``<name>.previous<suffix>`` (``menus.previous.json``).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MenuError, Problem
from ..menu.loading import read_menu_text
from .checks import review_text

SCRIPTS_FOLDER = Path("tests/calls")
"""Where call scripts live (``ivr test``), relative to the working directory."""


@dataclass
class Verdict:
    """The outcome of one check on a draft: passed, failed (with why) or skipped (with why)."""

    name: str
    passed: bool
    lines: list[str] = field(default_factory=list)
    skipped: str | None = None


def previous_path(published: str | Path) -> Path:
    """Where the file a publish replaced is kept: ``menus.json`` -> ``menus.previous.json``."""
    p = Path(published)
    return p.with_name(f"{p.stem}.previous{p.suffix}")


def check_strict(text: str, source: str, accept_warnings: bool = False) -> Verdict:
    """``ivr validate --strict`` on the draft's text: no errors and no warnings, or, with
    ``accept_warnings`` (an incident announcement that puts routes over budget), no errors;
    the warnings are still listed."""
    name = "validate" if accept_warnings else "validate --strict"
    try:
        result = review_text(text, source)
    except MenuError as exc:
        return Verdict(name, False, [f"error: {p}" for p in exc.problems])
    passed = result.ok or accept_warnings  # errors raised MenuError above
    return Verdict(name, passed, [f"warning: {w}" for w in result.warnings])


def check_call_scripts(menu_file: str | Path, folder: str | Path = SCRIPTS_FOLDER) -> Verdict:
    """Run the call scripts in ``folder`` (``ivr test``) against ``menu_file``; skipped, and
    saying so, when there is no such folder."""
    name = "call scripts"
    folder = Path(folder)
    if not folder.is_dir():
        return Verdict(name, True, skipped=f"no call scripts ({folder} does not exist)")
    # Imported when there are scripts to run: the runner serves the draft with the app
    # in-process (Flask), which loading ivr.authoring never does.
    from ..scripts import ScriptError, Target, discover, load_file, run_all

    try:
        loaded = [s for f in discover([folder]) for s in load_file(f)]
    except ScriptError as exc:
        return Verdict(name, False, [f"invalid script: {exc}"])
    results = run_all(loaded, Target(menu=str(menu_file)))
    failed = [r for r in results if r.status == "failed"]
    lines = [f"FAIL {r.message()}" for r in failed]
    lines.append(f"{len(results) - len(failed)} of {len(results)} scenario(s) passed")
    return Verdict(name, not failed, lines)


def replace_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` so that readers see the old file or the new, never part."""
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileNotFoundError):
            # The live file keeps its permissions (who may edit it, who may read it).
            os.chmod(temp, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _sync_folder(target.parent)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (where the platform allows opening a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def publish(data: bytes, published: str | Path) -> Path | None:
    """Put ``data`` live as ``published``, keeping the file it replaces; return where the
    previous file went (None when there was none)."""
    target = Path(published)
    previous = previous_path(target)
    try:
        old = target.read_bytes()
    except FileNotFoundError:
        old = None
    if old is not None:
        replace_atomically(previous, old)
    replace_atomically(target, data)
    return previous if old is not None else None


def rollback(published: str | Path) -> bytes:
    """Swap the live file and the one the last publish replaced (so a second rollback undoes
    the first); return the text now live. Refuses a previous file that is not a valid menu."""
    target = Path(published)
    previous = previous_path(target)
    if not previous.exists():
        raise MenuError(str(previous), [Problem("", "no previous menu to roll back to")])
    text = read_menu_text(previous)
    # The app would refuse a broken file: never roll back onto one.
    review_text(text, str(previous))
    data, live = previous.read_bytes(), target.read_bytes()
    replace_atomically(previous, live)
    replace_atomically(target, data)
    return data
