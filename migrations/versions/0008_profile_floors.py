"""Stored profiles brought above the floors profiles gained on 2026-12-05, so every stored
service still loads: capacity per replica at least 1e-6 (each tier's too) and target and plan
utilisation at least 0.01. Below them, capacity x utilisation could round to exactly 0 and a
replan divided by it.

The floors are written here as they were then, not imported: a migration must not change
meaning when the code moves on.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SERVICES = sa.table("services", sa.column("id", sa.Integer), sa.column("profile", sa.JSON))
FLOORS = {"capacity_per_replica": 1e-6, "target_utilization": 0.01, "plan_utilization": 0.01}


def raised(profile: dict[str, Any]) -> dict[str, Any]:
    """The profile with each value below its new floor moved onto it."""
    fixed = dict(profile)
    tiers = [dict(tier) for tier in fixed.get("tiers") or []]
    for part in (fixed, *tiers):
        for field, floor in FLOORS.items():
            value = part.get(field)
            if value is not None and float(value) < floor:
                part[field] = floor
    if "tiers" in fixed:
        fixed["tiers"] = tiers
    return fixed


def upgrade() -> None:
    connection = op.get_bind()
    for service_id, profile in connection.execute(sa.select(SERVICES.c.id, SERVICES.c.profile)):
        fixed = raised(profile)
        if fixed != profile:
            connection.execute(
                SERVICES.update().where(SERVICES.c.id == service_id).values(profile=fixed)
            )


def downgrade() -> None:
    """Nothing to undo: the moved values were valid under the old bounds too."""
