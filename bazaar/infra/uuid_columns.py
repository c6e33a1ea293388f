"""How psycopg2 gives PostgreSQL `uuid` columns: as `uuid.UUID` (`uuid_from_text`, registered for every
connection by the pool), or as their text on a cursor whose rows a row plan maps (`uuids_as_text`)."""

from __future__ import annotations

import uuid

import psycopg2.extensions

UUID_OID = 2950


def uuid_from_text(text: str | None, cursor=None) -> uuid.UUID | None:
    """A `uuid` column's value: what psycopg2's caster (`extras.register_uuid`, `uuid.UUID(text)`) gives, for
    half its CPU. PostgreSQL writes a uuid as hex digits and hyphens (SQLite holds peewee's 32 hex digits);
    UUID's own parser checks forms neither writes."""
    if text is None:
        return None
    value = object.__new__(uuid.UUID)
    object.__setattr__(value, "int", int(text.replace("-", ""), 16))
    object.__setattr__(value, "is_safe", uuid.SafeUUID.unknown)
    return value


_UUID_TEXT = psycopg2.extensions.new_type((UUID_OID,), "UUID_TEXT", psycopg2.extensions.UNICODE)


def uuids_as_text(cursor) -> None:
    """`cursor` gives `uuid` columns as their text, cast by psycopg2's own C caster: for rows mapped by a row
    plan (`rows._RowPlan`), which converts a value only when a new row's view is built, instead of a
    Python call of `uuid_from_text` per value (60 on a page of 20 sessions)."""
    psycopg2.extensions.register_type(_UUID_TEXT, cursor)
