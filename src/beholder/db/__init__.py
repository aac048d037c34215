"""Persistence: models, engine/session, repositories, Alembic migrations."""
