"""One event per service, name and window; one exclusion per service and window.

A declaration sent again (a client retrying after a timeout) is the same event: its multiplier
is replaced. Found out by selecting before inserting, two declarations sent at once both
inserted, and an event stored twice multiplied the forecast twice. Duplicates stored before
this revision are merged into their newest row first (its multiplier or reason is the latest
word).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

WINDOWS = (
    ("ux_events_window", "events", ["service_id", "name", "start", "end"]),
    ("ux_exclusions_window", "exclusions", ["service_id", "start", "end"]),
)


def upgrade() -> None:
    for name, table, columns in WINDOWS:
        key = ", ".join(f'"{column}"' for column in columns)
        op.execute(
            sa.text(
                f"DELETE FROM {table} WHERE id NOT IN (SELECT MAX(id) FROM {table} GROUP BY {key})"
            )
        )
        op.create_index(name, table, columns, unique=True)


def downgrade() -> None:
    for name, table, _columns in WINDOWS:
        op.drop_index(name, table_name=table)
