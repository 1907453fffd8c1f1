"""Database tables, engine and sessions, and the repository functions that query them."""
