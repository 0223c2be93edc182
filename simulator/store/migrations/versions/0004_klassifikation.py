"""klassifikation: sortiment versions, subscriptions, deliveries

Revision ID: 0004_klassifikation
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_klassifikation"
down_revision = None
branch_labels = ("klassifikation",)
depends_on = "0001_core"


def upgrade() -> None:
    op.create_table(
        "klassifikation_sortiment_version",
        sa.Column("sortiment_uuid", sa.String(36), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("tidspunkt", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(8), nullable=False),
        sa.Column("aendringer", sa.JSON(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
    )
    op.create_table(
        "klassifikation_subscription",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("municipality", sa.String(8), nullable=False),
        sa.Column("system", sa.String(64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("origin", sa.String(8), nullable=False),
        sa.Column("acknowledged_version", sa.Integer()),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text()),
    )
    op.create_table(
        "klassifikation_delivery",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("subscription_id", sa.String(100), nullable=False),
        sa.Column("municipality", sa.String(8), nullable=False),
        sa.Column("system", sa.String(64), nullable=False),
        sa.Column("sortiment_uuid", sa.String(36), nullable=False),
        sa.Column("leverancetype", sa.String(16), nullable=False),
        sa.Column("from_version", sa.Integer()),
        sa.Column("to_version", sa.Integer(), nullable=False),
        sa.Column("klasser", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Float()),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("exchange_id", sa.String(36)),
        sa.Column("http_status", sa.Integer()),
        sa.Column("fault_code", sa.String(32)),
        sa.Column("kvittering", sa.String(16)),
        sa.Column("kvittering_version", sa.Integer()),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ix_klassifikation_delivery_sub", "klassifikation_delivery", ["subscription_id", "started_at"])


def downgrade() -> None:
    op.drop_table("klassifikation_delivery")
    op.drop_table("klassifikation_subscription")
    op.drop_table("klassifikation_sortiment_version")
