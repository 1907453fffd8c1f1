"""Forecasts can carry one more quantile: the profile's risk quantile when it is not one of
p50/p90/p95/p99 (say p97.5), so a plan covers exactly the quantile its profile asks for.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("forecasts") as forecasts:
        forecasts.add_column(sa.Column("risk_quantile", sa.Float(), nullable=True))
    with op.batch_alter_table("forecast_points") as points:
        points.add_column(sa.Column("risk", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("forecast_points") as points:
        points.drop_column("risk")
    with op.batch_alter_table("forecasts") as forecasts:
        forecasts.drop_column("risk_quantile")
