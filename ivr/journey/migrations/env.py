"""Alembic's entry point for the journey log: run the revisions on the connection it is handed.

``ivr.journey.migrate`` hands over a connection already inside a transaction and holding the
migration lock, so the revisions run in that one transaction. Run by hand (``alembic -x
url=sqlite:///ivr-journeys.db revision --autogenerate -m "..."`` with ``script_location`` set
to this folder) it connects to the URL given.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from ivr.journey.schema import metadata

config = context.config


def _run(connection: sa.Connection) -> None:
    # Always inside one transaction (see ivr.journey.migrate), on SQLite too.
    context.configure(connection=connection, target_metadata=metadata, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("the journey log's migrations run against a database, not as SQL scripts")

given = config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as connection:
        _run(connection)
    engine.dispose()
