"""Record who placed each order, so only that caller reads it (owner-scoped orders)."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Orders placed before owners were recorded belong to no outside caller.
    with op.batch_alter_table("orders") as table:
        table.add_column(sa.Column("owner", sa.String(200), nullable=False, server_default=""))
        table.create_index("ix_orders_owner", ["owner"])


def downgrade() -> None:
    with op.batch_alter_table("orders") as table:
        table.drop_index("ix_orders_owner")
        table.drop_column("owner")
