"""forensic findings and kept reference photos

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.add_column(sa.Column("keep_photos", sa.Boolean(), server_default="0", nullable=False))
    op.create_table(
        "reference_photos",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("label", sa.String(length=500), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_reference_photos_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reference_photos")),
    )
    with op.batch_alter_table("reference_photos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reference_photos_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reference_photos_sha256"), ["sha256"], unique=False)
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("signal", sa.String(length=40), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=True),
        sa.Column("verdict", sa.String(length=64), nullable=False),
        sa.Column("strength", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("caveats", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_findings_item_id_items"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_findings_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
        sa.UniqueConstraint("item_id", "signal", "scope", name="uq_findings_item_signal_scope"),
    )
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_findings_item_id"), ["item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_findings_person_id"), ["person_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_findings_person_id"))
        batch_op.drop_index(batch_op.f("ix_findings_item_id"))
    op.drop_table("findings")
    with op.batch_alter_table("reference_photos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reference_photos_sha256"))
        batch_op.drop_index(batch_op.f("ix_reference_photos_person_id"))
    op.drop_table("reference_photos")
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.drop_column("keep_photos")
