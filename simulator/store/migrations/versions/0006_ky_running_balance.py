"""ky: a running balance on each claim (the sum of its postings' effects), kept with every posting

Revision ID: 0006_ky_running_balance
Revises: 0002_ky
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_ky_running_balance"
down_revision = "0002_ky"
branch_labels = None
depends_on = None

# the effect of each kind of posting on what is outstanding (simulator.ky.ledger.EFFECT)
_EFFECT_SQL = (
    "CASE kind WHEN 'daekning' THEN -amount WHEN 'afskrivning' THEN -amount WHEN 'nedregulering' THEN -amount "
    "WHEN 'rente' THEN amount WHEN 'gebyr' THEN amount ELSE 0 END"
)


def upgrade() -> None:
    op.add_column("ky_claim", sa.Column("movements", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute(
        f"UPDATE ky_claim SET movements = COALESCE((SELECT SUM({_EFFECT_SQL}) FROM ky_posting "
        "WHERE ky_posting.claim_uuid = ky_claim.uuid), 0)"
    )


def downgrade() -> None:
    op.drop_column("ky_claim", "movements")
