"""items: encrypted features for the robust repost engine (region hashes, ORB keypoints; issue 11)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "item_features",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("features_ct", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_item_features_item_id_items"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_item_features")),
    )


def downgrade() -> None:
    op.drop_table("item_features")
