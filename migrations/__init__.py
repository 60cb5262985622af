"""Alembic migrations for Bamboe's database (run on start and by ``bamboe db upgrade``)."""
