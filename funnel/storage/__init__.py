"""Storage: every table (one registry, one naming convention), the stores over them, and the
Alembic migrations that alone make the schema. Imports funnel.domain."""
