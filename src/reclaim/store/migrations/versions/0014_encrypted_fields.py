"""encrypted fields: room for ciphertext, and the record of the one-time encryption of older values

The values themselves are encrypted by ``reclaim.store.fields.encrypt_plaintext_fields``, which
``Workspace.open`` runs after the migrations: it needs the data key, which migrations do not have.
Columns declared with a length become TEXT on PostgreSQL (a ciphertext is longer than its text); SQLite
does not enforce lengths, so its tables are not rebuilt.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WIDENED = (
    ("persons", "name", 200),
    ("consents", "recorded_by", 200),
    ("face_templates", "photo_label", 500),
    ("known_images", "label", 500),
    ("reference_photos", "label", 500),
    ("cases", "title", 200),
)


def upgrade() -> None:
    op.create_table(
        "encryption_passes",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_encryption_passes")),
    )
    if op.get_bind().dialect.name != "sqlite":
        for table, column, length in WIDENED:
            op.alter_column(
                table, column, type_=sa.Text(), existing_type=sa.String(length), existing_nullable=False
            )


def downgrade() -> None:
    # The values stay encrypted: a downgraded workspace cannot be read by older versions of reclaim.
    if op.get_bind().dialect.name != "sqlite":
        for table, column, length in WIDENED:
            op.alter_column(
                table, column, type_=sa.String(length), existing_type=sa.Text(), existing_nullable=False
            )
    op.drop_table("encryption_passes")
