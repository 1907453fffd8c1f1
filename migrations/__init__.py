"""Alembic revisions for forecaster's schema; run at start-up by ``Database.migrate``."""
