"""Alembic migrations of the funnel database (see funnel/migrate.py: no alembic.ini needed)."""
