"""Ingest at scale: on PostgreSQL, samples no longer check their series per row.

The foreign key from ``samples.series_id`` to ``series.id`` ran one locking look-up per inserted
row: 75 % of PostgreSQL's CPU time in a 100,000-point COPY (0.72 s against 0.18 s without it),
which capped ingest far below 200,000 points/s. The write path now takes the same lock once per
series and batch (``SELECT ... FOR KEY SHARE`` in ``forecaster.storage.samples``), and a
statement trigger on ``series`` keeps ``ON DELETE CASCADE``. SQLite keeps its foreign key (its
check is a cheap B-tree probe and it has a single writer anyway). The ORM still declares the
key, which SQLite uses and which documents the relation.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

FOREIGN_KEY = "samples_series_id_fkey"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_constraint(FOREIGN_KEY, "samples", type_="foreignkey")
    op.execute(
        "CREATE FUNCTION samples_follow_series_delete() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN DELETE FROM samples USING gone WHERE samples.series_id = gone.id; RETURN NULL; "
        "END $$"
    )
    op.execute(
        "CREATE TRIGGER series_delete_samples AFTER DELETE ON series "
        "REFERENCING OLD TABLE AS gone FOR EACH STATEMENT "
        "EXECUTE FUNCTION samples_follow_series_delete()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER series_delete_samples ON series")
    op.execute("DROP FUNCTION samples_follow_series_delete()")
    op.execute("DELETE FROM samples WHERE series_id NOT IN (SELECT id FROM series)")
    op.create_foreign_key(
        FOREIGN_KEY, "samples", "series", ["series_id"], ["id"], ondelete="CASCADE"
    )
