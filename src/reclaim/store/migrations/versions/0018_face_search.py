"""items.faces_deferred: only a quick face search ran on the item and found no face (issue 13, outcome 1:
the detection fallbacks run later, for the items that matter or on request).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE on both backends (no batch copy of items: other tables' foreign keys point at it).
    op.add_column("items", sa.Column("faces_deferred", sa.Boolean(), server_default="0", nullable=False))
    op.create_index(op.f("ix_items_faces_deferred"), "items", ["faces_deferred"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_items_faces_deferred"), table_name="items")
    op.drop_column("items", "faces_deferred")  # SQLite >= 3.35 drops a column in place
