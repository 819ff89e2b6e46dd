"""known images: encrypted features for the robust repost engine (region hashes, ORB keypoints)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("known_images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("features_ct", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("known_images", schema=None) as batch_op:
        batch_op.drop_column("features_ct")
