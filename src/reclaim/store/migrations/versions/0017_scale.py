"""file_stamps: a keyed hash of each scanned file's path, size, mtime and inode with the item it was, so a
rescan recognises unchanged files without reading them (issue 13, outcome 3).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "file_stamps",
        sa.Column("stamp", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_file_stamps_item_id_items"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("stamp", name=op.f("pk_file_stamps")),
    )
    op.create_index(op.f("ix_file_stamps_item_id"), "file_stamps", ["item_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_file_stamps_item_id"), table_name="file_stamps")
    op.drop_table("file_stamps")
