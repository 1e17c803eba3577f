#!/bin/sh
# One-shot (service temporal-schema, image temporalio/admin-tools): create Temporal's databases on
# PostgreSQL and bring their schemas up to the version this admin-tools image ships; also create
# the funnel's own database. Safe to run again: `create` skips an existing database, `setup-schema
# -v 0.0` skips a schema already past 0.0, and `update-schema` applies only the missing versions
# (that is how a server upgrade gets its schema changes: bump both image versions, `up` again).
#
# temporal-sql-tool reads SQL_PLUGIN, SQL_HOST, SQL_PORT, SQL_USER and SQL_PASSWORD itself.
set -eu

: "${SQL_PLUGIN:=postgres12}"
: "${SQL_HOST:?SQL_HOST must name the PostgreSQL host}"
: "${SQL_USER:?SQL_USER must be set}"
: "${SQL_PASSWORD:?SQL_PASSWORD must be set}"
export SQL_PLUGIN SQL_HOST SQL_USER SQL_PASSWORD
export SQL_PORT="${SQL_PORT:-5432}"

TEMPORAL_DB="${TEMPORAL_DB_NAME:-temporal}"
VISIBILITY_DB="${TEMPORAL_VISIBILITY_DB_NAME:-temporal_visibility}"
FUNNEL_DB="${FUNNEL_DB_NAME:-funnel}"
SCHEMA_ROOT="${TEMPORAL_SCHEMA_ROOT:-/etc/temporal/schema/postgresql/v12}"

schema() { # schema DATABASE SCHEMA_DIR
    echo "== database $1: create, setup, update from $2"
    temporal-sql-tool --db "$1" create
    temporal-sql-tool --db "$1" setup-schema -v 0.0
    temporal-sql-tool --db "$1" update-schema -d "$2"
}

schema "$TEMPORAL_DB" "$SCHEMA_ROOT/temporal/versioned"
schema "$VISIBILITY_DB" "$SCHEMA_ROOT/visibility/versioned"

# The funnel's tables are created by the worker itself (SQLAlchemy); only the database is made here.
echo "== database $FUNNEL_DB: create"
temporal-sql-tool --db "$FUNNEL_DB" create

echo "schema setup complete"
