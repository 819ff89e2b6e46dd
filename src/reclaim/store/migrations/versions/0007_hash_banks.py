"""imported hash banks, their hashes, and the items that hit them

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "imported_banks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imported_banks")),
        sa.UniqueConstraint("name", name=op.f("uq_imported_banks_name")),
    )
    op.create_table(
        "imported_hashes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("signal_type", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_id"],
            ["imported_banks.id"],
            name=op.f("fk_imported_hashes_bank_id_imported_banks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imported_hashes")),
        sa.UniqueConstraint("bank_id", "signal_type", "value", name="uq_imported_hashes_bank_type_value"),
    )
    with op.batch_alter_table("imported_hashes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_imported_hashes_bank_id"), ["bank_id"], unique=False)
    op.create_table(
        "bank_hits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("signal_type", sa.String(length=20), nullable=False),
        sa.Column("distance", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_id"],
            ["imported_banks.id"],
            name=op.f("fk_bank_hits_bank_id_imported_banks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_bank_hits_item_id_items"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_hits")),
        sa.UniqueConstraint("item_id", "bank_id", name="uq_bank_hits_item_bank"),
    )
    with op.batch_alter_table("bank_hits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bank_hits_bank_id"), ["bank_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_bank_hits_item_id"), ["item_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bank_hits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bank_hits_item_id"))
        batch_op.drop_index(batch_op.f("ix_bank_hits_bank_id"))
    op.drop_table("bank_hits")
    with op.batch_alter_table("imported_hashes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_imported_hashes_bank_id"))
    op.drop_table("imported_hashes")
    op.drop_table("imported_banks")
