"""Alembic migrations of the funnel database (see funnel/storage/migrate.py: no alembic.ini
needed)."""
