"""The README's examples are run: every ``console`` block's commands, their output compared.

A block is a sequence of ``$ command`` lines, each followed by the output it shows (a command
may go on over lines ending in ``\\``, and a here-document's lines start with ``> ``). The
commands of one block run one after another in one fresh copy of the project (the menu, the
schemas, this README, ``tests/calls``), as in one terminal: a variable set or exported, or a
``cd``, carries on to the next command. ``.venv/bin/`` means this test's own environment; no
``IVR_*``, ``TWILIO_*``, ``PUBLIC_BASE_URL`` or ``DATABASE_URL`` setting leaks in from the
environment, and there is no terminal (a command that asks a question gets no answer).

Output (stdout and stderr as a terminal shows them, colours removed, trailing spaces ignored) is
compared line by line, strictly, except for these stable placeholders:

- a line that is just ``...`` stands for any number of lines (none included);
- ``...`` inside a line stands for any text on that line;
- a CallSid (``CA`` and 32 hex digits) stands for any CallSid, the same one wherever the block
  shows it again; ``CA…`` for any CallSid;
- a date and time with seconds (``2026-11-29 11:29:24``), or a time with seconds
  (``11:29:24``), stands for any such moment: the examples run today, on the clock;
- the wall-clock time a run took (``83 passed in 2.60s``) stands for any time;
- the project copy's directory is shown as ``/srv/ivr101``.

A command shown with no output must print nothing (redirect what it prints, or show it).

A value the README shows in one command's output and types into a later command of the same
block (a CallSid, or a callback's short hex id) is whatever the first command printed: the
later command gets the real one.

Each command must exit 0, unless its block says otherwise just before it:
``<!-- readme: exit 1 -->`` (the block's last command exits 1, the others 0) or
``<!-- readme: exit 0 1 1 -->`` (one status per command). A block that cannot run here says
so, with its reason: ``<!-- readme: not run (needs a Twilio account) -->``; one that needs a
tool beyond Python and bash names it (``<!-- readme: needs curl jq -->``) and is skipped, saying
so, where it is missing.

A command left running in the background (ending in ``&``, such as a server) is waited for
until it listens on the block's port, and ended with the block's shell. Port 5000 in a block's
commands is a free port the test picks, shown as 5000 in the output.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
SHOWN_AS = "/srv/ivr101"
PORT = 5000
BLOCK = re.compile(
    r"(?:<!-- readme: (?P<directive>[^>]*?) -->\n)?```console\n(?P<body>.*?)```", re.S
)
COPIED = (
    "README.md",
    "menus.json",
    "menus.schema.json",
    "callscript.schema.json",
    "pyproject.toml",
    ".env.example",
    "webhooks.py",
    "gunicorn.conf.py",
    "tests/calls",
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
CALL_SID = re.compile(r"\bCA[0-9a-f]{32}\b")
SHORT_ID = re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{8}\b")
VOLATILE = {
    # what the README shows: what it stands for
    r"\bCA…": r"CA[0-9a-f]{32}",
    r"\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\b": r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d",
    r"\b\d\d:\d\d:\d\d\b": r"\d\d:\d\d:\d\d",
    r"(?<= in )\d+\.\d\ds$": r"\d+\.\d\ds",
}
TOKENS = re.compile(
    "|".join(
        [f"(?P<sid>{CALL_SID.pattern})", r"(?P<any>\.\.\.)"]
        + [f"(?P<v{n}>{shown})" for n, shown in enumerate(VOLATILE)]
    )
)


@dataclass
class Command:
    line: str
    """The command as the README shows it (continuation lines joined)."""
    expected: list[str] = field(default_factory=list)


@dataclass
class Block:
    start: int
    """The README line the block starts on (1-based), for the test's id."""
    directive: str
    commands: list[Command]

    @property
    def skipped(self) -> str | None:
        match = re.match(r"not run \((.+)\)$", self.directive)
        return match.group(1) if match else None

    @property
    def exit_codes(self) -> list[int]:
        codes = [0] * len(self.commands)
        match = re.fullmatch(r"exit((?: \d+)+)", self.directive)
        if match:
            given = [int(code) for code in match.group(1).split()]
            if len(given) == 1:
                codes[-1] = given[0]
            elif len(given) == len(codes):
                codes = given
            else:
                raise ValueError(f"README line {self.start}: {len(given)} exit statuses")
        return codes

    @property
    def needs(self) -> list[str]:
        match = re.fullmatch(r"needs((?: [\w.-]+)+)", self.directive)
        return match.group(1).split() if match else []

    @property
    def directive_known(self) -> bool:
        return not self.directive or bool(
            self.skipped or self.needs or re.fullmatch(r"exit((?: \d+)+)", self.directive)
        )


def blocks(text: str) -> list[Block]:
    found = []
    for match in BLOCK.finditer(text):
        commands: list[Command] = []
        lines = match.group("body").splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.startswith("$ "):
                command = line[2:]
                while command.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    command = command[:-1] + " " + lines[i].strip()
                while "<<" in command and i + 1 < len(lines) and lines[i + 1].startswith("> "):
                    i += 1
                    command += "\n" + lines[i][2:]
                commands.append(Command(command))
            elif commands:
                commands[-1].expected.append(line)
            i += 1
        start = text.count("\n", 0, match.start("body"))
        found.append(Block(start, (match.group("directive") or "").strip(), commands))
    return found


def _trim(lines: list[str]) -> list[str]:
    lines = [line.rstrip() for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def pattern(
    expected: list[str], fixed: frozenset[str] = frozenset()
) -> tuple[re.Pattern[str], dict[str, str]]:
    """A regular expression for the output ``expected`` shows, and the group of each CallSid
    (those in ``fixed`` are known already, and stand for themselves)."""
    groups: dict[str, str] = {}
    parts = []
    for line in _trim(expected):
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
            continue
        out = []
        pos = 0
        for token in TOKENS.finditer(line):
            out.append(re.escape(line[pos : token.start()]))
            text = token.group()
            if token.lastgroup == "any":
                out.append(r"[^\n]*?")
            elif token.lastgroup == "sid" and text in fixed:
                out.append(re.escape(text))
            elif token.lastgroup == "sid":
                if text in groups:
                    out.append(f"(?P={groups[text]})")
                else:
                    groups[text] = f"sid{len(groups)}"
                    out.append(f"(?P<{groups[text]}>CA[0-9a-f]{{32}})")
            else:
                out.append(list(VOLATILE.values())[int(str(token.lastgroup)[1:])])
            pos = token.end()
        out.append(re.escape(line[pos:]))
        parts.append("".join(out) + r"\n")
    return re.compile("".join(parts)), groups


def _short_ids(expected: list[str], later: str) -> list[str]:
    """Short hex ids the output shows that a later command types."""
    return [i for i in dict.fromkeys(SHORT_ID.findall("\n".join(expected))) if i in later]


def compare(
    expected: list[str], actual: list[str], later: str, known: dict[str, str] | None = None
) -> dict[str, str] | None:
    """Whether ``actual`` fits ``expected``; if so, the README's values a later command uses,
    each mapped to the one the command printed. ``known`` maps the values earlier commands
    printed: the output must show the same ones."""
    known = known or {}
    for shown, real in known.items():
        expected = [line.replace(shown, real) for line in expected]
    regex, groups = pattern(expected, frozenset(known.values()))
    ids = [i for i in _short_ids(expected, later) if i not in known.values()]
    source = regex.pattern
    for n, short in enumerate(ids):
        source = source.replace(re.escape(short), f"(?P<id{n}>[0-9a-f]{{8}})", 1)
        source = source.replace(re.escape(short), f"(?P=id{n})")
    match = re.fullmatch(source, "".join(line + "\n" for line in _trim(actual)))
    if match is None:
        return None
    found = {sid: match.group(group) for sid, group in groups.items()}
    found |= {short: match.group(f"id{n}") for n, short in enumerate(ids)}
    return found


def environment() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("IVR_", "TWILIO_")) and k not in ("PUBLIC_BASE_URL", "DATABASE_URL")
    }
    return env | {
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "COLUMNS": "100",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "NO_COLOR": "1",
    }


class Shell:
    """One bash for a block, fed a command at a time, as a terminal would be."""

    def __init__(self, work: Path, port: int) -> None:
        self.port = port
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=work,
            env=environment(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def run(self, command: str, timeout: float = 120) -> tuple[str, int]:
        """Run ``command`` (its stdin empty unless it pipes one); its output and exit status."""
        assert self.process.stdin is not None and self.process.stdout is not None
        marker = f"--readme-{uuid.uuid4().hex}--"
        script = command.replace(".venv/bin/", f"{BIN}/")
        script = re.sub(rf"\b{PORT}\b", str(self.port), script)
        self.process.stdin.write(
            f"{{ {script}\n}} </dev/null\nprintf '\\n{marker} %d\\n' $?\n".encode()
        )
        self.process.stdin.flush()
        out = b""
        deadline = time.monotonic() + timeout
        end = re.compile(rb"\n" + re.escape(marker.encode()) + rb" (\d+)\n")
        while (found := end.search(out)) is None:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.process.stdout], [], [], max(left, 0))
            if not ready:
                raise AssertionError(f"`$ {command}` still running after {timeout:.0f} s")
            chunk = os.read(self.process.stdout.fileno(), 65536)
            if not chunk:
                raise AssertionError(f"the shell ended during `$ {command}`")
            out += chunk
        if re.search(r"&\s*(#.*)?$", command):
            self.wait_for_port(command)
        text = out[: found.start()].decode("utf-8", "replace")
        return text.replace(str(self.port), str(PORT)), int(found.group(1))

    def wait_for_port(self, command: str) -> None:
        """A command left running in the background (``&``) serves the block's port: wait until
        it listens, as a person would before going on."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise AssertionError(f"`$ {command}` did not listen on port {PORT} within 60 s")

    def close(self) -> None:
        """End the shell and everything it left running (its own process group), and wait
        until they are gone, so that no server outlives its block."""
        group = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                break
            self.process.poll()
            time.sleep(0.1)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def copy_project(work: Path) -> None:
    for name in COPIED:
        source = ROOT / name
        target = work / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


ALL = blocks(README.read_text(encoding="utf-8"))


def test_every_console_block_runs_or_says_why_not() -> None:
    assert len(ALL) > 20, "the README's console blocks were not found"
    for block in ALL:
        assert block.commands, f"README line {block.start}: a console block with no $ command"
        assert block.directive_known, (
            f"README line {block.start}: unknown directive {block.directive!r}"
        )
        assert block.exit_codes  # a wrong number of statuses raises


def test_placeholders_are_strict() -> None:
    """The comparison lets through what may change between runs, and nothing else."""
    readme_sid = "CA4d53c27c72c80e698006d7fa218f05a1"
    shown = [f"Call {readme_sid} started 2026-11-29 11:29:24", "..."]
    sid = "CA" + "0123456789abcdef" * 2
    other = "CA" + "f" * 32
    assert compare(shown, [f"Call {sid} started 2026-12-02 10:01:02", "a", "b"], "") == {
        readme_sid: sid
    }
    assert compare(shown, ["Call CA123 started 2026-12-02 10:01:02"], "") is None
    assert compare(shown, [f"Call {sid} started 2026-12-02 10:01"], "") is None
    assert compare(shown, [f"Call {sid} begun 2026-12-02 10:01:02"], "") is None
    twice = [f"{readme_sid} {readme_sid}"]
    assert compare(twice, [f"{sid} {sid}"], "") == {readme_sid: sid}
    assert compare(twice, [f"{sid} {other}"], "") is None
    # A CallSid an earlier command printed must be the one shown again.
    line = [f"Call {sid} started 2026-12-02 10:01:02"]
    assert compare(shown, line, "", {readme_sid: sid}) == {}
    assert (
        compare(shown, [f"Call {other} started 2026-12-02 10:01:02"], "", {readme_sid: sid}) is None
    )
    assert compare(["19 nodes (2 hangup)"], ["19 nodes (3 hangup)"], "") is None
    assert compare(["83 passed in 2.60s"], ["83 passed in 11.07s"], "") == {}
    assert compare(["83 passed in 2.60s"], ["82 passed in 2.60s"], "") is None
    ids = compare(["3f2a9c1e  call"], ["77b0e4d2  call"], "ivr callbacks done 3f2a9c1e")
    assert ids == {"3f2a9c1e": "77b0e4d2"}
    assert compare(["3f2a9c1e  call"], ["77b0e4d2  call"], "") is None
    assert compare(["3f2a9c1e done"], ["77b0e4d2 done"], "", {"3f2a9c1e": "77b0e4d2"}) == {}
    assert compare(["3f2a9c1e done"], ["3f2a9c1e done"], "", {"3f2a9c1e": "77b0e4d2"}) is None
    assert compare(["a", "...", "z"], ["a", "z"], "") == {}
    assert compare(["a", "...", "z"], ["a", "b", "c", "z"], "") == {}
    assert compare(["a ... z"], ["a b c z"], "") == {}
    assert compare(["a ... z"], ["a b", "c z"], "") is None
    assert compare(["a"], ["a", "extra"], "") is None


def _layout_rows() -> list[tuple[list[str], str]]:
    """The README's layout table: each row's paths, and the rest of the row."""
    section = README.read_text(encoding="utf-8").split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = line.split("|")
        if len(cells) > 3 and "`" in cells[1]:
            rows.append((re.findall(r"`([^`]+)`", cells[1]), "|".join(cells[2:])))
    return rows


def test_layout_table_describes_the_tree() -> None:
    """Every package and top-level module of ``ivr/`` has its row in the README's layout table,
    and every file the table names exists, so the map a newcomer starts from is the tree."""
    rows = _layout_rows()
    assert rows, "the Layout table was not found"
    listed = {path for paths, _ in rows for path in paths}
    package = ROOT / "ivr"
    parts = {
        f"ivr/{p.name}/" if p.is_dir() else f"ivr/{p.name}"
        for p in package.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists())
        or (p.suffix == ".py" and p.name not in ("__init__.py", "__main__.py"))
    }
    assert parts - listed == set(), "packages or modules missing from the README's layout table"
    for paths, rest in rows:
        for path in paths:
            assert (ROOT / path.split(",")[0].strip()).exists(), f"{path} does not exist"
        folders = [ROOT / p for p in paths if p.endswith("/")] + [package]
        for name in re.findall(r"`([a-z_]+\.py|[a-z_]+/)`", rest):
            assert any((folder / name).exists() for folder in folders), (
                f"the layout table names {name} beside {paths}, but there is no such file"
            )


def test_event_table_lists_every_kind() -> None:
    """The README's "What is recorded" table names every event kind the webhooks record."""
    from ivr.events import Kind

    text = README.read_text(encoding="utf-8")
    section = text.split("\n### What is recorded\n", 1)[1].split("\n#", 1)[0]
    named = [
        kind
        for line in section.splitlines()
        if line.startswith("| `")
        for kind in re.findall(r"`([a-z-]+)`", line.split("|")[1])
    ]
    assert sorted(named) == sorted(set(named)), "an event kind is listed twice"
    assert set(named) == {kind.value for kind in Kind}


def test_webhook_table_lists_every_route() -> None:
    """The README's webhook table names every URL Twilio is given (the softphone's are in its
    own table; the call-handler line's are one row)."""
    from ivr import create_app

    app = create_app({"TWILIO_AUTH_TOKEN": "t", "IVR_JOURNEY_LOG": False})
    routes = {
        rule.rule.replace("<node_id>", "<node>")
        for rule in app.url_map.iter_rules()
        if "POST" in (rule.methods or ()) and not rule.rule.startswith(("/phone", "/handler"))
    }
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## The webhooks\n", 1)[1].split("\n## ", 1)[0]
    shown = {m.split("?")[0] for m in re.findall(r"^\| `POST ([^`]+)`", section, re.M)}
    assert "/handler…" in shown
    assert routes == shown - {"/handler…"}


@pytest.mark.parametrize("block", ALL, ids=lambda b: f"line-{b.start}")
def test_readme_example(block: Block, tmp_path: Path) -> None:
    if block.skipped:
        pytest.skip(block.skipped)
    missing = [tool for tool in block.needs if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed")
    work = tmp_path / "project"
    copy_project(work)
    shell = Shell(work, free_port())
    known: dict[str, str] = {}
    try:
        for n, (command, status) in enumerate(zip(block.commands, block.exit_codes, strict=True)):
            line = command.line
            for shown, real in known.items():
                line = line.replace(shown, real)
            output, returncode = shell.run(line)
            shown = _trim(ANSI.sub("", output.replace(str(work), SHOWN_AS)).splitlines())
            later = "\n".join(c.line for c in block.commands[n + 1 :])
            # A command shown without output must print nothing.
            found = compare(command.expected, shown, later, known)
            assert found is not None, (
                f"README line {block.start}: `$ {command.line}` printed:\n"
                + "\n".join(shown)
                + "\n\nbut the README shows:\n"
                + "\n".join(_trim(command.expected))
            )
            known |= found
            assert returncode == status, (
                f"README line {block.start}: `$ {command.line}` exited {returncode}, "
                f"not {status}:\n" + "\n".join(shown)
            )
    finally:
        shell.close()
