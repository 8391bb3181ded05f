"""Data the orders cell owns. Nobody else reads or writes it: they ask over the bus.

An in-memory store keeps the example small; a real cell would keep its own
database tables here, behind the same methods.
"""

from dataclasses import dataclass


@dataclass
class Order:
    """One order and its state."""

    order_id: str
    sku: str
    quantity: int
    amount_cents: int
    status: str = "awaiting_payment"


class OrderStore:
    """Orders by id."""

    def __init__(self) -> None:
        self._orders: dict[str, Order] = {}

    def add(self, order: Order) -> None:
        self._orders[order.order_id] = order

    def get(self, order_id: str) -> Order | None:
        return self._orders.get(order_id)

    def mark_paid(self, order_id: str) -> None:
        order = self._orders.get(order_id)
        if order is not None:
            order.status = "paid"

    def clear(self) -> None:
        self._orders.clear()
