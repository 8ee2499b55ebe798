"""Production serving: the webhook app under gunicorn, configured from flags and environment.

Workers are stateless: a call's state travels in the webhook URLs, and each worker loads the
menu itself, so any worker can serve any step of any call.

Slow clients. A thread or process per connection (gunicorn's ``sync`` and ``gthread``) is held
by a client that sends its request a byte at a time, so thirty such connections starve every
caller, and they need no credentials. ``ivr serve`` therefore runs gevent workers: a waiting
connection costs a greenlet, not a thread, and each request is read whole, within deadlines
(headers within the keep-alive time, the body within :data:`BODY_SECONDS`), before the app
sees it. gevent patches the network only (:meth:`WebhookWorker.patch`): the app's own threads
(the call log's writer, the journey log's writer, the softphone's calls) stay OS threads.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import gevent
import gevent.monkey
import gevent.socket
from gunicorn.app.base import BaseApplication
from gunicorn.workers.ggevent import GeventWorker

from .. import settings

# Twilio gives a webhook 15 s in all; a worker stuck for twice that is killed and replaced.
WORKER_TIMEOUT = 30
# Seconds a client has to send its request's headers (gunicorn's gevent worker reads each
# request's headers under the keep-alive timeout) and then its body. Twilio's requests are a
# kilobyte or two and arrive at once; a client slower than this is cut off.
HEADER_SECONDS = 5
BODY_SECONDS = 10
# Simultaneous connections per gevent worker (gunicorn's default).
WORKER_CONNECTIONS = 1000
WORKER_CLASSES = settings.WORKER_CLASSES
GEVENT_WORKER = "ivr.webhooks.serve.WebhookWorker"

log = logging.getLogger("ivr.serve")


def default_workers(cpus: int | None = None) -> int:
    """Gunicorn's rule of thumb, (2 x cores) + 1: a webhook is mostly CPU, with some waiting
    on the journey log's database."""
    return 2 * (cpus or os.cpu_count() or 1) + 1


def gunicorn_options(
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    threads: int | None = None,
    access_log: bool = False,
    config: Mapping[str, Any] | None = None,
    cpus: int | None = None,
    worker_class: str | None = None,
) -> dict[str, Any]:
    """Gunicorn settings: flags first, then the settings (IVR_WORKERS, IVR_THREADS,
    IVR_WORKER_CLASS, HOST and PORT), then defaults for this machine."""
    config = settings.load() if config is None else config
    host = host or config["HOST"] or "127.0.0.1"
    if port is None:
        port = config["PORT"]
    workers = workers or config["IVR_WORKERS"] or default_workers(cpus)
    kind = (worker_class or config["IVR_WORKER_CLASS"]).lower()
    if kind not in WORKER_CLASSES:
        choices = ", ".join(WORKER_CLASSES)
        raise ValueError(f"IVR_WORKER_CLASS must be one of {choices}, not {kind!r}")
    threads = threads or config["IVR_THREADS"] or 2
    if kind == "gevent":
        threads = 1  # one thread; many connections, each a greenlet
    else:
        kind = "gthread" if threads > 1 else "sync"
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    options: dict[str, Any] = {
        "bind": [bind],
        "workers": workers,
        "threads": threads,
        "worker_class": GEVENT_WORKER if kind == "gevent" else kind,
        "worker_connections": WORKER_CONNECTIONS,
        "timeout": WORKER_TIMEOUT,
        "graceful_timeout": 20,
        "keepalive": HEADER_SECONDS,
        # Each worker builds its own app (menu, recorder, database connections): nothing
        # opened in the master is shared across a fork.
        "preload_app": False,
        "proc_name": "ivr101",
        # Gunicorn itself believes X-Forwarded-Proto (wsgi.url_scheme) and friends from the
        # addresses in forwarded_allow_ips, 127.0.0.1 by default. The app trusts proxies only
        # as IVR_TRUSTED_PROXIES says (ProxyFix), so gunicorn must trust no one: with
        # IVR_TRUSTED_PROXIES=0 a local client could otherwise choose the scheme the
        # signature is checked against, and with proxies on, ProxyFix does the job.
        "forwarded_allow_ips": "",
        "proxy_allow_ips": "",
        # Gunicorn 25+ opens a control socket at one path per user ($HOME/.gunicorn): a second
        # instance on the machine (another port, as the scaling section runs) would take it
        # over. Nothing here uses it.
        "control_socket_disable": True,
    }
    if access_log:
        options["accesslog"] = "-"
    return options


def worker_description(options: Mapping[str, Any]) -> str:
    """``5 gevent workers`` / ``2 workers x 4 threads``: what ``ivr serve`` says it runs."""
    if options["worker_class"] == GEVENT_WORKER:
        return (
            f"{options['workers']} gevent workers "
            f"(up to {options['worker_connections']} connections each)"
        )
    workers, threads = options["workers"], options["threads"]
    return f"{workers} workers x {threads} threads ({options['worker_class']})"


class WebhookWorker(GeventWorker):
    """Gunicorn's gevent worker, reading each request body whole before the app runs.

    ``gunicorn -k ivr.webhooks.serve.WebhookWorker webhooks:app`` (what ``gunicorn.conf.py``
    sets) runs the same worker as ``ivr serve``.
    """

    def patch(self) -> None:
        """gevent for the network only: sockets, DNS, ``time.sleep``, ssl, signals.

        ``threading``, ``queue`` and ``select`` stay as they are. The app's threads (the call
        log's and the journey log's writers, the softphone's calls) remain OS threads, so their
        blocking work (SQLite, psycopg) runs beside the requests, the GIL released, as it did
        under gthread workers, rather than stopping every greenlet of the worker while it runs
        (that halved throughput: see README, "Production serving"). With ``select`` unpatched,
        psycopg waits in C rather than cooperatively, so a request greenlet never waits for a
        pooled connection that another greenlet of the same thread holds.
        """
        # The master (the ``ivr`` command) imports twilio and requests, which import ``ssl``;
        # no TLS context exists before the fork, so gevent's warning about that is noise.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", gevent.monkey.MonkeyPatchWarning)
            gevent.monkey.patch_all(thread=False, queue=False, select=False)
        # As gunicorn's GeventWorker.patch: the listening sockets, as gevent sockets.
        self.sockets = [
            gevent.socket.socket(s.FAMILY, gevent.socket.SOCK_STREAM, fileno=s.sock.detach())
            for s in self.sockets
        ]

    def load_wsgi(self) -> None:
        super().load_wsgi()
        config = getattr(self.wsgi, "config", None) or {}
        self.wsgi = whole_body(self.wsgi, config.get("MAX_CONTENT_LENGTH") or 64 * 1024)


def whole_body(app: Callable[..., Any], limit: int, seconds: float = BODY_SECONDS) -> Any:
    """WSGI middleware: read the request body whole, within ``seconds``, before ``app`` runs.

    Under gevent a client trickling its body holds a greenlet, not a thread; this bounds how
    long. A body declared over ``limit`` (the app's MAX_CONTENT_LENGTH) is not read: the app
    answers 413 from its Content-Length. A chunked body (no Content-Length; Twilio never sends
    one) is read up to ``limit`` and refused with 413 beyond it. A client too slow gets 408.
    """

    def buffered(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH", "")
        if length.isdigit():
            size = int(length)
            if not 0 < size <= limit:
                return app(environ, start_response)
        elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            size = limit + 1
        else:
            return app(environ, start_response)
        try:
            with gevent.Timeout(seconds):
                body = environ["wsgi.input"].read(size)
        except gevent.Timeout:
            log.warning(
                "408 %s: the client sent its body too slowly (over %s s); closed",
                environ.get("REMOTE_ADDR", "-"),
                seconds,
            )
            # Gunicorn then drains the rest of the body under its own deadline, fails, and
            # closes the connection: the bytes left are never read as a request.
            return _answer(start_response, "408 Request Timeout")
        if len(body) > limit:
            return _answer(start_response, "413 Request Entity Too Large")
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return app(environ, start_response)

    return buffered


def _answer(start_response: Callable[..., Any], status: str) -> list[bytes]:
    start_response(status, [("Content-Length", "0")])
    return [b""]


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
