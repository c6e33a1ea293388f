"""Role and SessionStatus are StrEnums: the database keeps their plain string values, rows read back as
members, and the API shows the strings."""

from __future__ import annotations

from bazaar.domain.models import Role, Session, SessionStatus, User
from bazaar.infra import db
from tests.support.shows import make_show


def stored(query) -> list:
    """The values as the database has them, past the fields' conversions."""
    return [row[0] for row in db.database.execute_sql(*query.sql()).fetchall()]


def test_a_role_is_stored_as_its_string_and_read_back_as_a_member(api, creator):
    with db.connection():
        assert stored(User.select(User.role).where(User.id == creator.id)) == ["creator"]
        role = User.get_by_id(creator.id).role
    assert role is Role.CREATOR
    assert api.get("/api/auth/me", as_=creator).data["role"] == "creator"


def test_a_session_status_is_stored_as_its_string_and_read_back_as_a_member(api, creator):
    show = make_show(api, creator)
    with db.connection():
        assert stored(Session.select(Session.status).where(Session.id == show["id"])) == ["scheduled"]
        status = Session.get_by_id(show["id"]).status
    assert status is SessionStatus.SCHEDULED
    assert show["status"] == "scheduled"


def test_the_status_machine_is_written_in_members():
    assert SessionStatus.TRANSITIONS[SessionStatus.LIVE] == (SessionStatus.PAUSED, SessionStatus.ENDED)
    assert set(SessionStatus.ON_AIR) == {SessionStatus.LIVE, SessionStatus.PAUSED}
    assert set(Role.ALL) == set(Role)
