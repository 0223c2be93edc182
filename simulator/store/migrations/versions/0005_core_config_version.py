"""core: config_version (processes sharing one database see each other's route/agreement edits)

Revision ID: 0005_core_config_version
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_core_config_version"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "config_version",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "version": 0}])


def downgrade() -> None:
    op.drop_table("config_version")
