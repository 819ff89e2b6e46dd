"""scans: the case the material was uploaded to (case isolation in matching)

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("case_id", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_scans_case_id", ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_index("ix_scans_case_id")
        batch_op.drop_column("case_id")
