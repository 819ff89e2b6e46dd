"""vPDQ: a known video's vPDQ, and imported vPDQ hashes (python-threatexchange's serialisation)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("known_images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("vpdq", sa.Text(), nullable=True))
    with op.batch_alter_table("imported_hashes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("vpdq", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("imported_hashes", schema=None) as batch_op:
        batch_op.drop_column("vpdq")
    with op.batch_alter_table("known_images", schema=None) as batch_op:
        batch_op.drop_column("vpdq")
