"""beskedfordeler: accepted messages, deliveries, attempts, KY reception, dueslag, abonnementer

Revision ID: 0003_beskedfordeler
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_beskedfordeler"
down_revision = None
branch_labels = ("beskedfordeler",)
depends_on = "0001_core"

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "bf_besked",
        sa.Column("seq", _BigId, primary_key=True, autoincrement=True),
        sa.Column("besked_id", sa.String(255), nullable=False, unique=True),
        sa.Column("received_at", _TS, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("system", sa.String(64), nullable=False),
        sa.Column("municipality", sa.String(8), nullable=False),
        sa.Column("beskedtype", sa.String(255), nullable=False),
        sa.Column("transaktions_id", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
    )
    op.create_table(
        "bf_levering",
        sa.Column("seq", _BigId, primary_key=True, autoincrement=True),
        sa.Column("besked_id", sa.String(255), nullable=False),
        sa.Column("dueslag", sa.String(36), nullable=False),
        sa.Column("abonnement", sa.String(36), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("tilladte_modtagere", sa.JSON()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.UniqueConstraint("besked_id", "dueslag", name="uq_bf_levering_besked_dueslag"),
    )
    op.create_index("ix_bf_levering_state", "bf_levering", ["state", "dueslag"])
    op.create_table(
        "bf_forsoeg",
        sa.Column("seq", _BigId, primary_key=True, autoincrement=True),
        sa.Column("besked_id", sa.String(255), nullable=False),
        sa.Column("dueslag", sa.String(36), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("target", sa.String(512), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("http_status", sa.Integer()),
        sa.Column("statuskode", sa.Integer()),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
    )
    op.create_index("ix_bf_forsoeg_dueslag", "bf_forsoeg", ["dueslag", "seq"])
    op.create_table(
        "bf_ky_modtaget",
        sa.Column("seq", _BigId, primary_key=True, autoincrement=True),
        sa.Column("besked_id", sa.String(255), nullable=False, unique=True),
        sa.Column("beskedtype", sa.String(64), nullable=False),
        sa.Column("municipality", sa.String(8), nullable=False),
        sa.Column("received_at", _TS, nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_table(
        "bf_dueslag",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("origin", sa.String(8), nullable=False),
        sa.Column("stopped", sa.Text()),
    )
    op.create_table(
        "bf_abonnement",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("origin", sa.String(8), nullable=False),
    )


def downgrade() -> None:
    for table in ("bf_abonnement", "bf_dueslag", "bf_ky_modtaget", "bf_forsoeg", "bf_levering", "bf_besked"):
        op.drop_table(table)
