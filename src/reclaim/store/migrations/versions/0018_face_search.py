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
    with op.batch_alter_table("items") as batch_op:
        batch_op.add_column(sa.Column("faces_deferred", sa.Boolean(), server_default="0", nullable=False))
        batch_op.create_index(batch_op.f("ix_items_faces_deferred"), ["faces_deferred"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("items") as batch_op:
        batch_op.drop_index(batch_op.f("ix_items_faces_deferred"))
        batch_op.drop_column("faces_deferred")
