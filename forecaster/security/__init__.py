"""API keys and their scopes (who may ingest, read, or change capacity), and which hosts only
this machine reaches."""
