"""takedown notices and the sightings they cover

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=True),
        sa.Column("evidence_sha256", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("parent_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refused_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["notices.id"], name=op.f("fk_notices_parent_id_notices"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_notices_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notices_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notices_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notices_platform"), ["platform"], unique=False)
    op.create_table(
        "notice_sightings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("notice_id", sa.String(length=32), nullable=False),
        sa.Column("sighting_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notices.id"],
            name=op.f("fk_notice_sightings_notice_id_notices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sighting_id"],
            ["sightings.id"],
            name=op.f("fk_notice_sightings_sighting_id_sightings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_sightings")),
        sa.UniqueConstraint("notice_id", "sighting_id", name="uq_notice_sightings_notice_sighting"),
    )
    with op.batch_alter_table("notice_sightings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notice_sightings_notice_id"), ["notice_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notice_sightings_sighting_id"), ["sighting_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notice_sightings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_sightings_sighting_id"))
        batch_op.drop_index(batch_op.f("ix_notice_sightings_notice_id"))
    op.drop_table("notice_sightings")
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notices_platform"))
        batch_op.drop_index(batch_op.f("ix_notices_person_id"))
        batch_op.drop_index(batch_op.f("ix_notices_parent_id"))
    op.drop_table("notices")
