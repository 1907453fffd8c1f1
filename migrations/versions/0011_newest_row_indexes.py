"""Index forecasts by series and id, plans by service and id: "the newest of this series" is one
index step.

The reads that find a series' newest forecast or a service's newest plan order by id (the
order rows were written in). The indexes led with the series or service and then a time, so
PostgreSQL walked the primary key backwards and filtered: for a service with no recent rows
(new, never trained, disabled, or whose samples stopped) each lookup read every forecast or plan
of every service, 80-115 ms at 336,000 rows, and the dashboard pays it per service (QA).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_forecasts_series_newest", "forecasts", ["series_id", "id"]),
    ("ix_plans_service_newest", "plans", ["service_id", "id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in INDEXES:
        op.drop_index(name, table_name=table)
