"""Periodic order work in every worker: expire the reservations past their hold.

Every worker sweeps (`order_expiry_interval_s`); each reservation still expires exactly once across
the cluster, because a sweep claims its rows (SKIP LOCKED on PostgreSQL) and moves each with a
compare-and-set on its status, all in one transaction (`OrderService.expire_due`). A worker that
dies mid-sweep rolls back whole, and the next sweep anywhere picks the orders up.
"""

from __future__ import annotations

import logging

import gevent

from bazaar.infra import db
from bazaar.services.orders import OrderService
from config import Settings

log = logging.getLogger("bazaar.entry.jobs.orders")


class OrderJobs:
    def __init__(self, settings: Settings, orders: OrderService):
        self.settings = settings
        self.orders = orders
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._sweep_forever)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None

    def _sweep_forever(self) -> None:
        failing = False
        while True:
            gevent.sleep(self.settings.order_expiry_interval_s)
            try:
                self.orders.expire_due()
            except Exception as exc:  # an outage must not end the job: it retries next interval
                if not failing:
                    log.warning(
                        "order expiry failed (retrying every %g s): %r",
                        self.settings.order_expiry_interval_s,
                        exc,
                    )
                failing = True
            else:
                if failing:
                    log.info("order expiry works again")
                failing = False
            finally:
                db.release()
