# Owned by the monocell template: `copier update` replaces this file.
"""Create the outbox, inbox and idempotency tables (see kernel.storage.tables)."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    position = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "kernel_outbox",
        sa.Column("position", position, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(64), nullable=False, unique=True),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("time", sa.String(64), nullable=False),
        sa.Column("correlationid", sa.String(255), nullable=False),
        sa.Column("traceparent", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "kernel_inbox",
        sa.Column("message_id", sa.String(255), primary_key=True),
        sa.Column("handled_at", sa.Float, nullable=False, index=True),
    )
    op.create_table(
        "kernel_idempotency",
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("reply", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("kernel_idempotency")
    op.drop_table("kernel_inbox")
    op.drop_table("kernel_outbox")
