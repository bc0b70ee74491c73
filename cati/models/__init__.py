"""All tables. Import from here so Alembic and the app see the whole metadata."""

from cati.models.base import Base

__all__ = ["Base"]
