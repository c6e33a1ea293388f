"""Agora RTC tokens: start-stream (publisher), stream-token (subscriber), refresh-token — decoded
independently."""

from __future__ import annotations

import time
import uuid

import pytest

from bazaar.domain.clock import parse_iso
from tests.conftest import AGORA_APP_CERTIFICATE, AGORA_APP_ID
from tests.support import agora_token
from tests.support.agora_token import (
    JOIN_CHANNEL,
    PUBLISH_AUDIO_STREAM,
    PUBLISH_DATA_STREAM,
    PUBLISH_VIDEO_STREAM,
)
from tests.support.shows import end, make_show, start

PUBLISH_PRIVILEGES = {JOIN_CHANNEL, PUBLISH_AUDIO_STREAM, PUBLISH_VIDEO_STREAM, PUBLISH_DATA_STREAM}


@pytest.fixture
def show(api, creator):
    return make_show(api, creator)


@pytest.fixture
def live_show(api, creator, show):
    start(api, creator, show)
    return show


def epoch(iso_text: str) -> int:
    return int((parse_iso(iso_text) - parse_iso("1970-01-01T00:00:00Z")).total_seconds())


# start-stream: the owner's publisher token --------------------------------------------------------


def test_start_stream_answers_with_a_publisher_token_for_the_owner(api, creator, show):
    data = start(api, creator, show)
    assert data["sessionId"] == show["id"]
    assert data["channelName"] == show["id"]
    assert data["uid"] == creator.id
    assert data["appId"] == AGORA_APP_ID
    assert data["role"] == "publisher"


def test_publisher_token_is_version_006_for_the_app(api, creator, show):
    token = agora_token.decode(start(api, creator, show)["token"])
    assert token.version == "006"
    assert token.app_id == AGORA_APP_ID


def test_publisher_token_is_signed_with_the_app_certificate(api, creator, show):
    token = agora_token.decode(start(api, creator, show)["token"])
    assert token.signed_with(AGORA_APP_CERTIFICATE, show["id"], creator.id)


def test_publisher_token_does_not_verify_with_another_certificate(api, creator, show):
    token = agora_token.decode(start(api, creator, show)["token"])
    assert not token.signed_with("0" * 32, show["id"], creator.id)


def test_publisher_token_is_bound_to_the_session_channel_and_the_owner_uid(api, creator, show, viewer):
    token = agora_token.decode(start(api, creator, show)["token"])
    assert token.is_for(show["id"], creator.id)
    assert not token.is_for(show["id"], viewer.id)
    assert not token.is_for(str(uuid.uuid4()), creator.id)


def test_publisher_token_carries_join_and_publish_privileges_until_expires_at(api, creator, show):
    data = start(api, creator, show)
    token = agora_token.decode(data["token"])
    assert set(token.privileges) == PUBLISH_PRIVILEGES
    assert set(token.privileges.values()) == {epoch(data["expiresAt"])}


def test_tokens_expire_after_the_configured_agora_token_expiry(api, creator, show):
    data = start(api, creator, show)
    assert abs(epoch(data["expiresAt"]) - (time.time() + 86400)) < 5


def test_agora_token_expiry_setting_changes_the_expiry(api, app_with, creator, live_show):
    short = app_with(agora_token_expiry_s=600)
    data = short.get(f"/api/sessions/{live_show['id']}/stream-token").data
    assert abs(epoch(data["expiresAt"]) - (time.time() + 600)) < 5
    assert set(agora_token.decode(data["token"]).privileges.values()) == {epoch(data["expiresAt"])}


# stream-token: a subscriber token for anyone ------------------------------------------------------


def test_viewer_gets_a_subscriber_token_with_their_uid(api, viewer, live_show):
    resp = api.get(f"/api/sessions/{live_show['id']}/stream-token", as_=viewer)
    assert resp.status == 200
    assert resp.data["role"] == "subscriber"
    assert resp.data["uid"] == viewer.id
    token = agora_token.decode(resp.data["token"])
    assert token.is_for(live_show["id"], viewer.id)
    assert token.signed_with(AGORA_APP_CERTIFICATE, live_show["id"], viewer.id)


def test_subscriber_token_may_join_but_not_publish(api, viewer, live_show):
    data = api.get(f"/api/sessions/{live_show['id']}/stream-token", as_=viewer).data
    assert agora_token.decode(data["token"]).privileges == {JOIN_CHANNEL: epoch(data["expiresAt"])}


def test_anonymous_viewer_gets_uid_0(api, live_show):
    data = api.get(f"/api/sessions/{live_show['id']}/stream-token").data
    assert data["uid"] == 0
    token = agora_token.decode(data["token"])
    assert token.is_for(live_show["id"], 0)
    assert token.signed_with(AGORA_APP_CERTIFICATE, live_show["id"], 0)


def test_stream_token_works_while_paused(api, creator, viewer, live_show):
    api.patch(f"/api/sessions/{live_show['id']}/status", json={"status": "paused"}, as_=creator)
    assert api.get(f"/api/sessions/{live_show['id']}/stream-token", as_=viewer).status == 200


def test_stream_token_of_a_scheduled_session_is_409(api, viewer, show):
    resp = api.get(f"/api/sessions/{show['id']}/stream-token", as_=viewer)
    assert resp.status == 409
    assert resp.json["currentStatus"] == "scheduled"


def test_stream_token_of_an_ended_session_is_409(api, creator, viewer, live_show):
    end(api, creator, live_show)
    resp = api.get(f"/api/sessions/{live_show['id']}/stream-token", as_=viewer)
    assert resp.status == 409
    assert resp.json["currentStatus"] == "ended"


def test_stream_token_of_an_unknown_session_is_404(api):
    assert api.get(f"/api/sessions/{uuid.uuid4()}/stream-token").status == 404


def test_stream_token_with_a_malformed_session_id_is_404(api):
    assert api.get("/api/sessions/not-a-uuid/stream-token").status == 404


# refresh-token ------------------------------------------------------------------------------------


def test_owner_refreshes_a_publisher_token(api, creator, live_show):
    resp = api.post(f"/api/sessions/{live_show['id']}/refresh-token", json={"role": "publisher"}, as_=creator)
    assert resp.status == 200
    assert resp.data["role"] == "publisher"
    assert set(agora_token.decode(resp.data["token"]).privileges) == PUBLISH_PRIVILEGES


def test_refresh_token_defaults_to_a_subscriber_token(api, viewer, live_show):
    resp = api.post(f"/api/sessions/{live_show['id']}/refresh-token", as_=viewer)
    assert resp.status == 200
    assert resp.data["role"] == "subscriber"
    assert resp.data["uid"] == viewer.id


def test_anonymous_refreshes_a_subscriber_token_with_uid_0(api, live_show):
    resp = api.post(f"/api/sessions/{live_show['id']}/refresh-token", json={"role": "subscriber"})
    assert resp.status == 200
    assert resp.data["uid"] == 0
    assert agora_token.decode(resp.data["token"]).privileges.keys() == {JOIN_CHANNEL}


def test_viewer_cannot_get_a_publisher_token(api, viewer, live_show):
    resp = api.post(f"/api/sessions/{live_show['id']}/refresh-token", json={"role": "publisher"}, as_=viewer)
    assert resp.status == 403


def test_other_creator_cannot_get_a_publisher_token(api, other_creator, live_show):
    resp = api.post(
        f"/api/sessions/{live_show['id']}/refresh-token", json={"role": "publisher"}, as_=other_creator
    )
    assert resp.status == 403


def test_anonymous_cannot_get_a_publisher_token(api, live_show):
    resp = api.post(f"/api/sessions/{live_show['id']}/refresh-token", json={"role": "publisher"})
    assert resp.status == 401


def test_admin_may_get_a_publisher_token(api, admin, live_show):
    resp = api.post(f"/api/sessions/{live_show['id']}/refresh-token", json={"role": "publisher"}, as_=admin)
    assert resp.status == 200
    assert resp.data["uid"] == admin.id


def test_refresh_token_with_an_unknown_role_is_400(api, creator, live_show):
    resp = api.post(f"/api/sessions/{live_show['id']}/refresh-token", json={"role": "host"}, as_=creator)
    assert resp.status == 400
    assert "role" in resp.json["details"]


def test_refresh_token_of_a_session_that_is_not_live_is_409(api, creator, show):
    resp = api.post(f"/api/sessions/{show['id']}/refresh-token", json={"role": "publisher"}, as_=creator)
    assert resp.status == 409


def test_refresh_token_of_an_unknown_session_is_404(api, creator):
    assert api.post(f"/api/sessions/{uuid.uuid4()}/refresh-token", as_=creator).status == 404


# Agora not configured -----------------------------------------------------------------------------


def test_start_stream_without_agora_credentials_is_503_and_the_session_stays_scheduled(
    api, app_with, creator, show
):
    unconfigured = app_with(agora_app_id=None, agora_app_certificate=None)
    resp = unconfigured.post(f"/api/sessions/{show['id']}/start-stream", as_=creator)
    assert resp.status == 503
    assert "AGORA_APP_ID" in resp.json["message"]
    assert api.get(f"/api/sessions/{show['id']}").data["status"] == "scheduled"


def test_stream_token_without_agora_certificate_is_503(api, app_with, live_show):
    unconfigured = app_with(agora_app_certificate=None)
    resp = unconfigured.get(f"/api/sessions/{live_show['id']}/stream-token")
    assert resp.status == 503
    assert resp.json["success"] is False


def test_refresh_token_without_agora_app_id_is_503(api, app_with, creator, live_show):
    unconfigured = app_with(agora_app_id=None)
    resp = unconfigured.post(
        f"/api/sessions/{live_show['id']}/refresh-token", json={"role": "publisher"}, as_=creator
    )
    assert resp.status == 503
