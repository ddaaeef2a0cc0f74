"""PostgreSQL adapter: tables, migrations, unit of work and repositories."""
