"""Signed webhooks on Werkzeug's main branch, installed into a throwaway folder.

Opt-in, because it needs Werkzeug's source: set ``IVR_WERKZEUG_SOURCE`` to a checkout (a
folder with ``pyproject.toml``) or a bare git repository of github.com/pallets/werkzeug.
The source is installed with pip into a temporary folder put first on ``sys.path`` of a child
process (the suite's own environment is untouched), and that process serves signed webhooks
through the app with every deprecation warning raised by ``ivr`` code an error.

    IVR_WERKZEUG_SOURCE=~/src/werkzeug .venv/bin/python -m pytest tests/test_werkzeug_main.py
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE = os.environ.get("IVR_WERKZEUG_SOURCE", "")

CHECK = r"""
import warnings, xml.etree.ElementTree as ET
warnings.filterwarnings("error", category=DeprecationWarning, module=r"ivr(\.|$)")
import werkzeug
from importlib.metadata import version
from twilio.request_validator import RequestValidator
from ivr import create_app

token = "werkzeug-main-token"
app = create_app({"TESTING": True, "TWILIO_AUTH_TOKEN": token, "IVR_MENU_FILE": MENU,
                  "PUBLIC_BASE_URL": None, "IVR_ALLOW_UNSIGNED": False, "IVR_TRUSTED_PROXIES": 0})
client = app.test_client()
call = {"CallSid": "CA" + "7" * 32, "From": "+447700900123", "To": "+441632960101"}
for path, extra in [
    ("/voice", {}),
    ("/menu/main?attempt=1", {"Digits": "1"}),
    ("/queue/crime_queue/wait?cycle=1&note=caf%C3%A9", {"QueuePosition": "2", "QueueTime": "30"}),
    ("/status", {"CallStatus": "completed", "CallDuration": "61"}),
]:
    form = call | extra
    signature = RequestValidator(token).compute_signature("http://localhost" + path, form)
    answer = client.post(path, data=form, headers={"X-Twilio-Signature": signature})
    assert answer.status_code in (200, 204), (path, answer.status_code, answer.data[:300])
    if answer.status_code == 200:
        assert ET.fromstring(answer.data).tag == "Response"
    assert client.post(path, data=form).status_code == 403, path
print("werkzeug", version("werkzeug"), werkzeug.__file__)
"""


def _tree(source: Path, into: Path) -> Path:
    """A source tree: ``source`` itself, or ``HEAD`` of a (bare) git repository."""
    if (source / "pyproject.toml").exists():
        return source
    archive = subprocess.run(
        ["git", "--git-dir", str(source), "archive", "--format=tar", "HEAD"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


@pytest.mark.skipif(not SOURCE, reason="set IVR_WERKZEUG_SOURCE to Werkzeug's main branch")
def test_signed_webhooks_work_on_werkzeug_main(tmp_path: Path):
    tree = _tree(Path(SOURCE).expanduser(), tmp_path / "src")
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--target", str(target), str(tree)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(target), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-c", f"MENU = {str(ROOT / 'menus.json')!r}\n" + CHECK],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert str(target) in done.stdout, done.stdout  # the main branch was the one imported
