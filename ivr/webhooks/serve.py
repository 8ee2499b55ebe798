"""Production serving: the webhook app under gunicorn, configured from flags and environment.

Workers are stateless: a call's state travels in the webhook URLs, and each worker loads the
menu itself, so any worker can serve any step of any call.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from gunicorn.app.base import BaseApplication

# Twilio gives a webhook 15 s in all; a worker stuck for twice that is killed and replaced.
WORKER_TIMEOUT = 30


def default_workers(cpus: int | None = None) -> int:
    """Gunicorn's rule of thumb, (2 x cores) + 1: a webhook is mostly CPU, with some waiting
    on the journey log's database."""
    return 2 * (cpus or os.cpu_count() or 1) + 1


def _env_int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1, not {value}")
    return value


def gunicorn_options(
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    threads: int | None = None,
    access_log: bool = False,
    env: Mapping[str, str] | None = None,
    cpus: int | None = None,
) -> dict[str, Any]:
    """Gunicorn settings: flags first, then IVR_WORKERS, IVR_THREADS, HOST and PORT, then
    defaults for this machine."""
    env = {} if env is None else env  # settings are read by ivr.settings; the CLI passes them
    host = host or env.get("HOST", "").strip() or "127.0.0.1"
    if port is None:
        port = _env_int(env, "PORT") or 5000
    workers = workers or _env_int(env, "IVR_WORKERS") or default_workers(cpus)
    threads = threads or _env_int(env, "IVR_THREADS") or 2
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    options: dict[str, Any] = {
        "bind": [bind],
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "timeout": WORKER_TIMEOUT,
        "graceful_timeout": 20,
        "keepalive": 5,
        # Each worker builds its own app (menu, recorder, database connections): nothing
        # opened in the master is shared across a fork.
        "preload_app": False,
        "proc_name": "ivr101",
    }
    if access_log:
        options["accesslog"] = "-"
    return options


class Server(BaseApplication):
    """Gunicorn running ``factory()`` (by default :func:`ivr.create_app`) in each worker."""

    def __init__(
        self, options: Mapping[str, Any], factory: Callable[[], Any] | None = None
    ) -> None:
        self.options = dict(options)
        self.factory = factory
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Any:
        if self.factory is not None:
            return self.factory()
        from .app import create_app

        return create_app()
