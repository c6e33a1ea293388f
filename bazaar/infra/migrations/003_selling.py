"""003 — selling during the show: product stock, drops on session products, orders, payment events,
the outgoing-webhook outbox.

Stock and drop counters are plain integers changed only by conditional UPDATEs
(`... WHERE drop_remaining >= q`); on PostgreSQL CHECK constraints keep them from
ever going below zero as a last line of defence (SQLite cannot add constraints to
an existing table). Orders are indexed for every filter and sort the API offers:
a buyer's orders newest first, a show's orders (by status), the expiry sweep
(reserved orders by `reserved_until`) and the per-buyer limit of a drop.
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields("products", stock_quantity=pw.IntegerField(null=True))
    migrator.add_fields(
        "session_products",
        drop_quantity=pw.IntegerField(null=True),
        drop_remaining=pw.IntegerField(null=True),
        drop_price=pw.DecimalField(max_digits=10, decimal_places=2, null=True),
        limit_per_buyer=pw.IntegerField(null=True),
        drop_starts_at=pw.DateTimeField(null=True),
        drop_ends_at=pw.DateTimeField(null=True),
    )
    User = migrator.orm["users"]
    Session = migrator.orm["sessions"]
    Product = migrator.orm["products"]

    @migrator.create_model
    class Order(pw.Model):
        id = pw.UUIDField(primary_key=True)
        session = pw.ForeignKeyField(Session, column_name="session_id", on_delete="CASCADE")
        product = pw.ForeignKeyField(Product, column_name="product_id", on_delete="CASCADE")
        buyer = pw.ForeignKeyField(User, column_name="buyer_id", on_delete="CASCADE")
        seller = pw.ForeignKeyField(User, column_name="seller_id", on_delete="CASCADE")
        quantity = pw.IntegerField()
        unit_price = pw.DecimalField(max_digits=10, decimal_places=2)
        total = pw.DecimalField(max_digits=10, decimal_places=2)
        currency = pw.CharField(max_length=3)
        status = pw.CharField(max_length=20)
        reserved_until = pw.DateTimeField()
        paid_at = pw.DateTimeField(null=True)
        fulfilled_at = pw.DateTimeField(null=True)
        cancelled_at = pw.DateTimeField(null=True)
        expired_at = pw.DateTimeField(null=True)
        refunded_at = pw.DateTimeField(null=True)
        payment_provider = pw.CharField(max_length=32, null=True)
        payment_reference = pw.CharField(max_length=255, null=True)
        tracking_number = pw.CharField(max_length=255, null=True)
        idempotency_key = pw.CharField(max_length=64)
        request_hash = pw.CharField(max_length=64)
        created_at = pw.DateTimeField()
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "orders"
            indexes = (
                (("buyer", "idempotency_key"), True),
                (("buyer", "created_at"), False),
                (("buyer", "status", "created_at"), False),
                (("session", "created_at"), False),
                (("session", "status", "created_at"), False),
                (("session", "product", "buyer"), False),
                (("seller", "created_at"), False),
                (("status", "reserved_until"), False),
            )

    @migrator.create_model
    class PaymentEvent(pw.Model):
        id = pw.BigAutoField()
        provider = pw.CharField(max_length=32)
        event_id = pw.CharField(max_length=255)
        event_type = pw.CharField(max_length=64)
        order = pw.ForeignKeyField(Order, column_name="order_id", null=True, on_delete="SET NULL")
        received_at = pw.DateTimeField()

        class Meta:
            table_name = "payment_events"
            indexes = ((("provider", "event_id"), True),)

    @migrator.create_model
    class WebhookOutbox(pw.Model):
        id = pw.BigAutoField()
        event_id = pw.UUIDField()
        event_type = pw.CharField(max_length=40)
        subject = pw.CharField(max_length=64)
        payload = pw.TextField()
        created_at = pw.DateTimeField()
        attempts = pw.IntegerField(default=0)
        next_attempt_at = pw.DateTimeField()
        last_error = pw.TextField(null=True)
        parked = pw.BooleanField(default=False)

        class Meta:
            table_name = "webhook_outbox"
            indexes = (
                (("parked", "next_attempt_at"), False),
                (("subject", "id"), False),
            )

    if isinstance(database, pw.PostgresqlDatabase):
        migrator.sql(
            "ALTER TABLE products ADD CONSTRAINT products_stock_quantity_nonnegative "
            "CHECK (stock_quantity >= 0)"
        )
        migrator.sql(
            "ALTER TABLE session_products ADD CONSTRAINT session_products_drop_remaining_nonnegative "
            "CHECK (drop_remaining >= 0)"
        )


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    for table in ("webhook_outbox", "payment_events", "orders"):
        migrator.remove_model(table)
    if isinstance(database, pw.PostgresqlDatabase):
        migrator.sql(
            "ALTER TABLE session_products DROP CONSTRAINT session_products_drop_remaining_nonnegative"
        )
        migrator.sql("ALTER TABLE products DROP CONSTRAINT products_stock_quantity_nonnegative")
    migrator.remove_fields(
        "session_products",
        "drop_quantity",
        "drop_remaining",
        "drop_price",
        "limit_per_buyer",
        "drop_starts_at",
        "drop_ends_at",
    )
    migrator.remove_fields("products", "stock_quantity")
