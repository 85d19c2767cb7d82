"""Storage for jobs and the Media DB: SQLAlchemy Core tables, engine set-up, repositories."""
