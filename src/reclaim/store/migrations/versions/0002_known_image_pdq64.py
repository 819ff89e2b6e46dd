"""known images: scale-invariant pdq64 hash

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("known_images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pdq64", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("pdq64_quality", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("known_images", schema=None) as batch_op:
        batch_op.drop_column("pdq64_quality")
        batch_op.drop_column("pdq64")
