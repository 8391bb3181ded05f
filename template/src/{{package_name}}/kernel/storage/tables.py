# Owned by the monocell template: `copier update` replaces this file.
"""The kernel's tables in every cell's database: outbox, inbox, idempotency keys.

They live beside the cell's own tables so one transaction covers the handler's
change and these records: the events it published (`kernel_outbox`, relayed
to the bus after commit), the messages it has handled (`kernel_inbox`, so a
redelivery changes nothing), and the replies to idempotency keys
(`kernel_idempotency`, so a retried command answers what it answered first).
Their schema changes only through the kernel's own migrations (`versions/`).
"""

from sqlalchemy import BigInteger, Column, Float, Integer, LargeBinary, MetaData, String, Table

metadata = MetaData()

# SQLite autoincrements only an INTEGER primary key; PostgreSQL gets a BIGINT.
Position = BigInteger().with_variant(Integer(), "sqlite")

outbox = Table(
    "kernel_outbox",
    metadata,
    Column("position", Position, primary_key=True, autoincrement=True),
    Column("message_id", String(64), nullable=False, unique=True),
    Column("type", String(255), nullable=False),
    Column("source", String(255), nullable=False),
    Column("time", String(64), nullable=False),
    Column("correlationid", String(255), nullable=False),
    Column("traceparent", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
)

inbox = Table(
    "kernel_inbox",
    metadata,
    Column("message_id", String(255), primary_key=True),
    Column("handled_at", Float, nullable=False, index=True),
)

idempotency = Table(
    "kernel_idempotency",
    metadata,
    Column("key", String(512), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("reply", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False, index=True),
)
