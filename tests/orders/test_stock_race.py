"""Many buyers at once for the last units, with real threads against the multi-threaded server:
exactly the stock is sold, never more, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter

from checkout.models import Order, OrderLine

from .conftest import ADDRESS


def race(service, buyers, lines) -> Counter:
    barrier = threading.Barrier(len(buyers))
    results: list[int] = []
    lock = threading.Lock()

    def buy(i, client):
        barrier.wait()
        mine = lines[::-1] if i % 2 else lines
        answer = client.post("/api/orders", {"lines": mine, "shipping_address": ADDRESS})
        with lock:
            results.append(answer.status)

    threads = [threading.Thread(target=buy, args=(i, c)) for i, c in enumerate(buyers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return Counter(results)


def sold(service, sku: str) -> int:
    with service.db.connection_context():
        return sum(l.qty for l in OrderLine.select().join(Order).where(
            (OrderLine.sku == sku) & (Order.status == "pending_payment")))


def test_many_buyers_for_the_last_units_sell_exactly_the_stock(service):
    buyers = [service.shopper() for _ in range(24)]
    outcome = race(service, buyers, [{"sku": "UM-1001", "qty": 1}])
    assert outcome == Counter({201: 5, 409: 19}), outcome
    assert service.on_hand("UM-1001") == 0
    assert sold(service, "UM-1001") == 5


def test_multi_line_orders_race_without_deadlock_or_oversell(service):
    buyers = [service.shopper() for _ in range(12)]
    # Half the buyers list the two SKUs the other way round: the service locks them in one order.
    first = race(service, buyers, [{"sku": "UM-3000-BLK", "qty": 1}, {"sku": "UM-1001", "qty": 2}])
    assert first[201] == 2 and first[409] == 10, first  # UM-1001: 5 // 2 = 2 orders
    assert service.on_hand("UM-1001") == 1 and service.on_hand("UM-3000-BLK") == 1
    assert sold(service, "UM-1001") == 4 and sold(service, "UM-3000-BLK") == 2
