"""Alembic environment: runs revisions on the connection handed over by ``Database.migrate``.

Also works from the ``alembic`` command line with ``alembic.ini`` and FORECASTER_DATABASE_URL.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, create_engine

from forecaster.storage.orm import Base
from forecaster.storage.schema_compare import COMPARE_OPTIONS

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        **COMPARE_OPTIONS,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from forecaster.storage.db import normalise_url

    url = config.get_main_option("sqlalchemy.url") or os.environ.get(
        "FORECASTER_DATABASE_URL", "sqlite:///forecaster.db"
    )
    engine = create_engine(normalise_url(url))
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()
