"""Data the orders cell owns. Nobody else reads or writes it: they ask over the bus.

The cell's own database holds these tables (its SQLite file, or its schema in
PostgreSQL); `migrations/` creates and changes them.
"""

from sqlalchemy import Column, Integer, MetaData, String, Table

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("order_id", String(32), primary_key=True),
    # Who placed it (`context.principal.subject`); "" for a caller inside the service.
    Column("owner", String(200), nullable=False, server_default="", index=True),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("amount_cents", Integer, nullable=False),
    Column("status", String(32), nullable=False, default="awaiting_payment"),
)
