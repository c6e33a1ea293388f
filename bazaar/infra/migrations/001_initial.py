"""001 — the initial schema: users, tokens, products, sessions, chat, views, stats, search outbox.

Written for both PostgreSQL and SQLite. Case-insensitive uniqueness of
username and email is an expression index (lower(...)), which both support.
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class User(pw.Model):
        id = pw.AutoField()
        username = pw.CharField(max_length=50)
        email = pw.CharField(max_length=255)
        password_hash = pw.CharField(max_length=100)
        role = pw.CharField(max_length=20, default="viewer", index=True)
        created_at = pw.DateTimeField()
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "users"

    @migrator.create_model
    class RefreshToken(pw.Model):
        id = pw.UUIDField(primary_key=True)
        user = pw.ForeignKeyField(User, column_name="user_id", on_delete="CASCADE")
        token_hash = pw.CharField(max_length=64, unique=True)
        family_id = pw.UUIDField(index=True)
        expires_at = pw.DateTimeField()
        revoked_at = pw.DateTimeField(null=True)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "refresh_tokens"

    @migrator.create_model
    class Product(pw.Model):
        id = pw.UUIDField(primary_key=True)
        seller = pw.ForeignKeyField(User, column_name="seller_id", on_delete="CASCADE")
        name = pw.CharField(max_length=255)
        description = pw.TextField(null=True)
        price = pw.DecimalField(max_digits=10, decimal_places=2)
        original_price = pw.DecimalField(max_digits=10, decimal_places=2, null=True)
        category = pw.CharField(max_length=100, null=True, index=True)
        in_stock = pw.BooleanField(default=True)
        image_url = pw.CharField(max_length=2048, null=True)
        created_at = pw.DateTimeField(index=True)
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "products"
            indexes = (
                (("seller", "created_at"), False),
                (("seller", "category"), False),
                (("seller", "in_stock"), False),
                (("price",), False),
                (("name",), False),
            )

    @migrator.create_model
    class Session(pw.Model):
        id = pw.UUIDField(primary_key=True)
        creator = pw.ForeignKeyField(User, column_name="creator_id", on_delete="CASCADE")
        title = pw.CharField(max_length=255)
        description = pw.TextField(null=True)
        category = pw.CharField(max_length=100, null=True, index=True)
        tags = pw.TextField()
        status = pw.CharField(max_length=20, default="scheduled", index=True)
        stream_url = pw.CharField(max_length=2048, null=True)
        stream_key = pw.CharField(max_length=255, null=True)
        agora_channel_name = pw.CharField(max_length=64, null=True)
        scheduled_at = pw.DateTimeField(null=True, index=True)
        started_at = pw.DateTimeField(null=True)
        ended_at = pw.DateTimeField(null=True)
        active_product = pw.ForeignKeyField(
            Product, column_name="active_product_id", null=True, on_delete="SET NULL"
        )
        reaction_counts = pw.TextField()
        peak_viewers = pw.IntegerField(default=0)
        unique_clickers = pw.IntegerField(default=0)
        created_at = pw.DateTimeField(index=True)
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "sessions"
            indexes = (
                (("creator", "created_at"), False),
                (("creator", "status"), False),
                (("status", "scheduled_at"), False),
                (("title",), False),
            )

    @migrator.create_model
    class SessionProduct(pw.Model):
        id = pw.UUIDField(primary_key=True)
        session = pw.ForeignKeyField(Session, column_name="session_id", on_delete="CASCADE")
        product = pw.ForeignKeyField(Product, column_name="product_id", on_delete="CASCADE")
        featured = pw.BooleanField(default=False)
        display_order = pw.IntegerField(default=0)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "session_products"
            indexes = (
                (("session", "product"), True),
                (("session", "display_order", "created_at"), False),
            )

    @migrator.create_model
    class ChatMessage(pw.Model):
        id = pw.UUIDField(primary_key=True)
        session = pw.ForeignKeyField(Session, column_name="session_id", on_delete="CASCADE")
        user = pw.ForeignKeyField(User, column_name="user_id", on_delete="CASCADE")
        message = pw.TextField()
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "chat_messages"
            indexes = ((("session", "created_at", "id"), False),)

    @migrator.create_model
    class SessionView(pw.Model):
        id = pw.UUIDField(primary_key=True)
        session = pw.ForeignKeyField(Session, column_name="session_id", on_delete="CASCADE")
        user = pw.ForeignKeyField(User, column_name="user_id", null=True, on_delete="SET NULL")
        viewer_key = pw.CharField(max_length=64)
        joined_at = pw.DateTimeField()
        left_at = pw.DateTimeField(null=True)
        watch_seconds = pw.IntegerField(null=True)

        class Meta:
            table_name = "session_views"
            indexes = (
                (("session", "joined_at"), False),
                (("session", "left_at"), False),
                (("session", "viewer_key"), False),
            )

    @migrator.create_model
    class ProductClickStat(pw.Model):
        id = pw.UUIDField(primary_key=True)
        session = pw.ForeignKeyField(Session, column_name="session_id", on_delete="CASCADE")
        product = pw.ForeignKeyField(Product, column_name="product_id", on_delete="CASCADE")
        total_clicks = pw.IntegerField(default=0)
        unique_clicks = pw.IntegerField(default=0)
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "product_click_stats"
            indexes = ((("session", "product"), True),)

    @migrator.create_model
    class SearchOutbox(pw.Model):
        id = pw.BigAutoField()
        doc_type = pw.CharField(max_length=20)
        doc_id = pw.CharField(max_length=64)
        created_at = pw.DateTimeField()
        attempts = pw.IntegerField(default=0)
        next_attempt_at = pw.DateTimeField()
        last_error = pw.TextField(null=True)
        parked = pw.BooleanField(default=False)

        class Meta:
            table_name = "search_outbox"
            indexes = (
                (("parked", "next_attempt_at"), False),
                (("doc_type", "doc_id"), False),
            )

    migrator.sql("CREATE UNIQUE INDEX users_username_lower ON users (lower(username))")
    migrator.sql("CREATE UNIQUE INDEX users_email_lower ON users (lower(email))")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    for table in (
        "search_outbox",
        "product_click_stats",
        "session_views",
        "chat_messages",
        "session_products",
        "sessions",
        "products",
        "refresh_tokens",
        "users",
    ):
        migrator.remove_model(table)
