"""Stored profiles' Prometheus sources lose the label names profiles now refuse, so every
stored service still loads: "" (names nothing) and "*" (marks the summed series training
derives), in a source's ``labels`` and ``keep_labels``. A source adding such a label had every
chunk of its pull refused, so nothing stored came from it; without the label it pulls.

The names are written here as they were then, not imported: a migration must not change
meaning when the code moves on.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SERVICES = sa.table("services", sa.column("id", sa.Integer), sa.column("profile", sa.JSON))
REFUSED = frozenset({"", "*"})


def without_refused_names(profile: dict[str, Any]) -> dict[str, Any]:
    """The profile with each Prometheus source's refused label names left out."""
    sources = profile.get("prometheus")
    if not sources:
        return profile
    fixed = [dict(source) for source in sources]
    for source in fixed:
        if source.get("labels"):
            source["labels"] = {k: v for k, v in source["labels"].items() if k not in REFUSED}
        if source.get("keep_labels"):
            source["keep_labels"] = [name for name in source["keep_labels"] if name not in REFUSED]
    return {**profile, "prometheus": fixed}


def upgrade() -> None:
    connection = op.get_bind()
    for service_id, profile in connection.execute(sa.select(SERVICES.c.id, SERVICES.c.profile)):
        fixed = without_refused_names(profile)
        if fixed != profile:
            connection.execute(
                SERVICES.update().where(SERVICES.c.id == service_id).values(profile=fixed)
            )


def downgrade() -> None:
    """Nothing to undo: the remaining names were valid before too."""
