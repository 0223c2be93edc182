"""ky: the simulated KY ledger (accounts, status history, claims, sub-claims, liabilities, postings)

Revision ID: 0002_ky
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_ky"
down_revision = None
branch_labels = ("ky",)
depends_on = "0001_core"

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ky_account",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("municipality", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("cpr", sa.String(10)),
        sa.Column("cvr", sa.String(8)),
        sa.Column("name", sa.String(255)),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registration", sa.JSON()),
    )
    op.create_index("ix_ky_account_municipality", "ky_account", ["municipality"])
    op.create_index("ix_ky_account_cpr", "ky_account", ["cpr"])
    op.create_index("ix_ky_account_cvr", "ky_account", ["cvr"])
    op.create_table(
        "ky_account_status",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("account_uuid", sa.String(36), nullable=False),
        sa.Column("municipality", sa.String(8), nullable=False),
        sa.Column("status", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("besked_id", sa.String(64), unique=True),
        sa.Column("exchange_id", sa.String(36)),
    )
    op.create_index("ix_ky_account_status_account", "ky_account_status", ["account_uuid"])
    op.create_table(
        "ky_claim",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("account_uuid", sa.String(36), sa.ForeignKey("ky_account.uuid"), nullable=False),
        sa.Column("municipality", sa.String(8), nullable=False),
        sa.Column("fordringstype", sa.String(36), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("period_from", sa.Date()),
        sa.Column("period_to", sa.Date()),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("last_payment_date", sa.Date()),
    )
    op.create_index("ix_ky_claim_account", "ky_claim", ["account_uuid"])
    op.create_table(
        "ky_subclaim",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("claim_uuid", sa.String(36), sa.ForeignKey("ky_claim.uuid"), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("period_from", sa.Date()),
        sa.Column("period_to", sa.Date()),
        sa.Column("posting", sa.String(255)),
    )
    op.create_index("ix_ky_subclaim_claim", "ky_subclaim", ["claim_uuid"])
    op.create_table(
        "ky_liability",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("account_uuid", sa.String(36), sa.ForeignKey("ky_account.uuid"), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("cpr", sa.String(10)),
        sa.Column("cvr", sa.String(8)),
        sa.Column("name", sa.String(255)),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date()),
    )
    op.create_index("ix_ky_liability_account", "ky_liability", ["account_uuid"])
    op.create_table(
        "ky_posting",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("posting_uuid", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("municipality", sa.String(8), nullable=False),
        sa.Column("claim_uuid", sa.String(36), nullable=False),
        sa.Column("subclaim_uuid", sa.String(36)),
        sa.Column("payment_uuid", sa.String(36)),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("exchange_id", sa.String(36)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("kind", "posting_uuid", name="uq_ky_posting_kind_uuid"),
    )
    op.create_index("ix_ky_posting_claim", "ky_posting", ["claim_uuid"])
    op.create_index("ix_ky_posting_municipality_kind", "ky_posting", ["municipality", "kind"])
    op.create_table(
        "ky_fordring_til_indbetaling",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("municipality", sa.String(8), nullable=False),
        sa.Column("fordring_uuid", sa.String(36), nullable=False),
        sa.Column("authorities", sa.JSON(), nullable=False),
        sa.Column("period_from", sa.Date()),
        sa.Column("period_to", sa.Date()),
        sa.Column("besked_id", sa.String(64), nullable=False, unique=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ky_fti_fordring", "ky_fordring_til_indbetaling", ["fordring_uuid"])


def downgrade() -> None:
    for table in (
        "ky_fordring_til_indbetaling",
        "ky_posting",
        "ky_liability",
        "ky_subclaim",
        "ky_claim",
        "ky_account_status",
        "ky_account",
    ):
        op.drop_table(table)
