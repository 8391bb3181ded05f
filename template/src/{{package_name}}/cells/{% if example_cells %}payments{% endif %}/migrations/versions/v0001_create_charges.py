"""Create the charges table."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "charges",
        sa.Column("order_id", sa.String(32), primary_key=True),
        sa.Column("amount_cents", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("charges")
