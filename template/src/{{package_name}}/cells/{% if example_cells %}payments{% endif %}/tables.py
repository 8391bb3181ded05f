"""Data the payments cell owns: one charge per order, never two.

The primary key on `order_id` is the last line of defence; the kernel's inbox
already skips an `OrderPlaced` delivered again.
"""

from sqlalchemy import Column, Integer, MetaData, String, Table

metadata = MetaData()

charges = Table(
    "charges",
    metadata,
    Column("order_id", String(32), primary_key=True),
    Column("amount_cents", Integer, nullable=False),
)
