"""Plans carry their steps pre-encoded, so reading a new plan costs one row, not one per step.

When a training pass lands new plans for every service, each API process reads each new plan
once. Reading 288 steps through the ORM and encoding them took 10-20 ms of CPU per plan under
load, and 20 plans landing together stalled plan queries for ~400 ms (scripts/bench_load.py).
The steps, JSON-encoded once when the plan is written, and their start times now live on the
plan row. Plans written before this revision have neither and are encoded on first read.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plans") as plans:
        plans.add_column(sa.Column("steps_json", sa.LargeBinary(), nullable=True))
        plans.add_column(sa.Column("step_starts_ms", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("plans") as plans:
        plans.drop_column("step_starts_ms")
        plans.drop_column("steps_json")
