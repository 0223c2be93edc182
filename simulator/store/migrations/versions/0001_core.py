"""core: exchange, route, agreement

Revision ID: 0001_core
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_core"
down_revision = None
branch_labels = ("core",)
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "exchange",
        sa.Column("seq", _BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("service", sa.String(128)),
        sa.Column("operation", sa.String(128)),
        sa.Column("municipality", sa.String(8)),
        sa.Column("system_uuid", sa.String(64)),
        sa.Column("agreement_uuid", sa.String(64)),
        sa.Column("route_target", sa.String(512)),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("fault_code", sa.String(32)),
        sa.Column("http_status", sa.Integer(), nullable=False),
        sa.Column("callers_call_id", sa.String(255)),
        sa.Column("correlation_id", sa.String(255)),
        sa.Column("session", sa.String(128)),
        sa.Column("provider_ms", sa.Float()),
        sa.Column("request_body", sa.Text(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=False),
        sa.Column("request_truncated", sa.Boolean(), nullable=False),
        sa.Column("response_truncated", sa.Boolean(), nullable=False),
        sa.Column("violations", sa.JSON()),
        sa.Column("context", sa.JSON()),
    )
    op.create_index("ix_exchange_started_at", "exchange", ["started_at"])
    op.create_index("ix_exchange_service_op", "exchange", ["service", "operation"])
    op.create_index("ix_exchange_municipality", "exchange", ["municipality"])
    op.create_index("ix_exchange_status", "exchange", ["status"])
    op.create_index("ix_exchange_callers_call_id", "exchange", ["callers_call_id"])
    op.create_index("ix_exchange_correlation_id", "exchange", ["correlation_id"])
    op.create_index("ix_exchange_session", "exchange", ["session"])
    op.create_table(
        "route",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("service", sa.String(128), nullable=False),
        sa.Column("municipality", sa.String(8), nullable=False),
        sa.Column("target", sa.String(512), nullable=False),
        sa.Column("fault", sa.JSON()),
        sa.Column("origin", sa.String(8), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_table(
        "agreement",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("system", sa.String(64), nullable=False),
        sa.Column("municipality", sa.String(8), nullable=False),
        sa.Column("service", sa.String(128), nullable=False),
        sa.Column("beskedtyper", sa.JSON()),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("origin", sa.String(8), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("agreement")
    op.drop_table("route")
    op.drop_table("exchange")
