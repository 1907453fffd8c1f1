"""Targets removed from a service's profile wait in ``services.retired_targets`` until the
actuation pass has put them back to their baselines.

Before, a target taken out of the profile was simply no longer visited: an HPA left at the last
floor forecaster had pushed stayed there, annotations and all, after the plan had gone stale.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("services") as batch:
        batch.add_column(
            sa.Column("retired_targets", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("services") as batch:
        batch.drop_column("retired_targets")
