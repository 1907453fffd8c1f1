"""Stored profiles brought inside the bounds profiles gained in December 2026, so every stored
service still loads: step_seconds at least 60 (as documented), a horizon of at least one step,
capacity per replica at most 1e12 and hourly cost at most 1e6 (plans and costs stay finite),
and tiers with max_replicas 0 (never used) left out.

The bounds are written here as they were then, not imported: a migration must not change
meaning when the code moves on.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SERVICES = sa.table("services", sa.column("id", sa.Integer), sa.column("profile", sa.JSON))


def bounded(profile: dict[str, Any]) -> dict[str, Any]:
    """The profile with each field that broke a new bound moved onto it."""
    fixed = dict(profile)
    step = max(60, int(fixed.get("step_seconds", 300)))
    if "step_seconds" in fixed:
        fixed["step_seconds"] = step
    if float(fixed.get("horizon_hours", 48)) * 3600 < step:
        fixed["horizon_hours"] = step / 3600
    tiers = [dict(tier) for tier in fixed.get("tiers") or [] if tier.get("max_replicas") != 0]
    for part in (fixed, *tiers):
        if float(part.get("capacity_per_replica", 0)) > 1e12:
            part["capacity_per_replica"] = 1e12
        if float(part.get("cost_per_replica_hour", 0)) > 1e6:
            part["cost_per_replica_hour"] = 1e6
    if "tiers" in fixed:
        fixed["tiers"] = tiers
    return fixed


def upgrade() -> None:
    connection = op.get_bind()
    for service_id, profile in connection.execute(sa.select(SERVICES.c.id, SERVICES.c.profile)):
        fixed = bounded(profile)
        if fixed != profile:
            connection.execute(
                SERVICES.update().where(SERVICES.c.id == service_id).values(profile=fixed)
            )


def downgrade() -> None:
    """Nothing to undo: the moved values were valid under the old bounds too."""
