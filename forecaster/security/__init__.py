"""API keys and their scopes: who may ingest, read, or change capacity."""
