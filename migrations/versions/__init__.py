# A package only so that setuptools ships the revision files; Alembic ignores this file.
