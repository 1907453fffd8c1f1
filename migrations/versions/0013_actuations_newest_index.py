"""Index actuations by service and id: a service's newest records are one index range.

The overview reads each service's newest actuation and its latest pass (its newest records
that were not dry runs) in order of id; the only index led with the service and then a time,
so both read and sorted every record of every service listed: 11 s on SQLite and 4.8 s on
PostgreSQL at 100 services of 20,000 records each.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_actuations_service_newest", "actuations", ["service_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_actuations_service_newest", table_name="actuations")
