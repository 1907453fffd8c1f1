"""What each PostgreSQL connection asks of the server."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from forecaster.storage.db import KEEPALIVES, Database


@pytest.mark.postgres
def test_the_server_ends_sessions_whose_client_is_gone_within_a_minute(
    postgres_schema_url: str,
) -> None:
    """QA: a leader whose node lost its network kept the scheduler's advisory lock for the
    kernel's two hours of keepalive silence (the server's default here), and no standby took
    over. Every session asks the server to probe its client sooner."""
    database = Database(postgres_schema_url)
    try:
        with database.engine.connect() as connection:
            shown = {
                name: int(connection.execute(text(f"SHOW tcp_keepalives_{name}")).scalar_one())
                for name in KEEPALIVES
            }
            path = connection.execute(text("SHOW search_path")).scalar_one()
    finally:
        database.dispose()
    assert shown == KEEPALIVES
    assert shown["idle"] + shown["interval"] * shown["count"] <= 60
    assert path != '"$user", public'  # the URL's own options (the test schema) still apply
