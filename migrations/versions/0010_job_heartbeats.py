"""Running job runs carry a heartbeat, so a leader can tell a run whose process is gone from one
that is still going elsewhere.

Before, a new leader marked every run still ``running`` as abandoned, the on-demand training a
healthy standby was running included (its service read as failing until the fit ended), while a
run left by a killed standby stayed ``running`` as long as the leader did not change.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_runs") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_runs") as batch:
        batch.drop_column("heartbeat_at")
