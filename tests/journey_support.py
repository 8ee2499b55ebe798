"""Back-ends and outages for the journey log tests: SQLite files and a real PostgreSQL.

PostgreSQL runs when TEST_DATABASE_URL is set (``.ci/run`` sets it): each test gets its own
schema (via ``search_path``), dropped afterwards. An outage is real: the SQLite file's directory
is moved away, or a TCP proxy in front of PostgreSQL stops.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

PG_URL = os.environ.get("TEST_DATABASE_URL", "").strip()


@contextmanager
def postgres_schema(base_url: str = PG_URL) -> Iterator[str]:
    """A URL whose tables live in a fresh schema of the test database, dropped afterwards."""
    schema = f"ivr_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base_url, poolclass=sa.pool.NullPool)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = sa.make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


class Proxy:
    """A TCP proxy that can be stopped (connections cut, port refused) and started again."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.start()

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        with self._lock:
            for s in self._sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            with self._lock:
                for s in (src, dst):
                    if s in self._sockets:
                        self._sockets.discard(s)
                        s.close()


class Backend:
    """A journey database for one test, with a switch that takes it away and brings it back,
    and a spool folder of its own (apart from the database: taking one away keeps the other)."""

    name = ""

    def __init__(self, url: str, spool: Path) -> None:
        self.url = url
        self.spool = spool

    def go_down(self) -> None:
        raise NotImplementedError

    def come_back(self) -> None:
        raise NotImplementedError


class SqliteBackend(Backend):
    name = "sqlite"

    def __init__(self, tmp_path: Path) -> None:
        self.folder = tmp_path / "journeys"
        self.away = tmp_path / "journeys-unmounted"
        self.folder.mkdir(parents=True)
        super().__init__(f"sqlite:///{self.folder / 'journeys.db'}", tmp_path / "spool")

    def go_down(self) -> None:
        # As if the disk were unmounted: the file is simply not there any more, and a process
        # starting meanwhile cannot make the folder afresh either.
        self.folder.rename(self.away)
        self.folder.write_text("unmounted")

    def come_back(self) -> None:
        self.folder.unlink(missing_ok=True)
        self.away.rename(self.folder)


class PostgresBackend(Backend):
    name = "postgresql"

    def __init__(self, url: str, spool: Path) -> None:
        parsed = sa.make_url(url)
        self.proxy = Proxy(parsed.host or "127.0.0.1", parsed.port or 5432)
        super().__init__(
            parsed.set(host="127.0.0.1", port=self.proxy.port).render_as_string(
                hide_password=False
            ),
            spool,
        )

    def go_down(self) -> None:
        self.proxy.stop()

    def come_back(self) -> None:
        self.proxy.start()

    def close(self) -> None:
        self.proxy.stop()


@contextmanager
def backend_for(kind: str, tmp_path: Path) -> Iterator[Backend]:
    """A fresh SQLite or PostgreSQL backend for one test (``kind``: a fixture param)."""
    if kind == "sqlite":
        yield SqliteBackend(tmp_path)
        return
    with postgres_schema() as url:
        b = PostgresBackend(url, tmp_path / "spool")
        try:
            yield b
        finally:
            b.close()


BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql", marks=pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL is not set")
    ),
]
"""Parameters for a ``backend`` fixture: SQLite always, PostgreSQL when TEST_DATABASE_URL is set."""
