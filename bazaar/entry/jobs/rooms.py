"""Periodic real-time work, one greenlet per job in every worker.

Every worker, for its own members:
  - presence refresh (`presence_refresh_s`): its viewers stay counted; a dead worker's expire
    after `presence_ttl_s`;
  - viewer-count (`viewer_count_interval_s`): every worker reads the same count from LiveState and
    sends it to its local members when it changed since it last did (no pub/sub needed);
  - heartbeat (`ws_heartbeat_interval_s`): ping every /ws socket, drop those silent for `ws_idle_timeout_s`;
  - Engine.IO heartbeat (`socketio_ping_interval_s`): ping every Socket.IO client, drop those that have
    not answered within `socketio_ping_timeout_s`;
  - freed memory back to the system (`memory_trim_interval_s`) when it has fewer connections than at the
    last look.
Once per room across the cluster (the worker holding the room's lease, among those with members in it):
  - product-click-stats + trending-products when clicks changed (`click_stats_interval_s`);
  - reaction-stats when reactions changed (`reaction_stats_interval_s`).
A worker that stops releases the rooms' leases it holds: the others take those rooms over at their next
interval instead of once the leases have expired (a deploy's pause of up to one and a half intervals).
Once across the cluster (a turn, whichever worker asks first once it is due): checkpoint the live
counters to the database through the sessions service, at most `checkpoint_interval_s` apart while
any worker lives — a Redis restart loses at most one interval of reactions and clicks.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator

import gevent

from bazaar.domain.errors import NotFound
from bazaar.domain.models import SessionStatus
from bazaar.entry.ws import wire
from bazaar.infra import db
from bazaar.infra.memory import return_free_memory
from bazaar.live import events
from bazaar.live.hub import Hub
from bazaar.live.publisher import Publisher
from bazaar.live.state import LiveState
from bazaar.services.engagement import CLICKS, REACTIONS, SessionFactsCache
from bazaar.services.presence import PresenceService
from bazaar.services.sessions import SessionService
from config import Settings

log = logging.getLogger("bazaar.entry.jobs.rooms")

# A lease lives this many intervals: its holder renews it every interval, and if the holder dies
# another worker takes over within one and a half.
_LEASE_INTERVALS = 1.5
# A heartbeat pings its sockets in this many slices over this part of its interval.
_PING_SLICES = 20
_PING_SPREAD = 0.5
# Every worker asks for the checkpoint turn this many times an interval. A turn lasts the interval less
# one ask, so checkpoints run between that and one interval apart, whoever took the last one: a worker
# that dies after its checkpoint delays the next one by nothing.
_CHECKPOINT_ASKS = 5


class RealtimeJobs:
    def __init__(
        self,
        settings: Settings,
        hub: Hub,
        live_state: LiveState,
        publisher: Publisher,
        sessions: SessionService,
        presence: PresenceService,
        facts: SessionFactsCache,
        connections: set,
    ):
        self.settings = settings
        self.hub = hub
        self.live_state = live_state
        self.publisher = publisher
        self.sessions = sessions
        self.presence = presence
        self.facts = facts
        self.connections = connections
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._counts_sent: dict[str, int] = {}
        # Per room job, the rooms whose lease this worker got at its last try: released when it stops.
        self._leases_held: dict[str, set[str]] = {}
        self._connections_seen = 0  # at the last `return_freed_memory`
        self._greenlets: list[gevent.Greenlet] = []

    def start(self) -> None:
        s = self.settings
        schedule = [
            (s.presence_refresh_s, self.refresh_presence),
            (s.viewer_count_interval_s, self.send_viewer_counts),
            (s.ws_heartbeat_interval_s, self.heartbeat),
            (s.socketio_ping_interval_s, self.engineio_heartbeat),
            (s.click_stats_interval_s, self.broadcast_click_stats),
            (s.reaction_stats_interval_s, self.broadcast_reaction_stats),
            (s.checkpoint_interval_s / _CHECKPOINT_ASKS, self.checkpoint),
        ]
        if s.memory_trim_interval_s:
            schedule.append((s.memory_trim_interval_s, self.return_freed_memory))
        self._greenlets = [gevent.spawn(self._every, interval, job) for interval, job in schedule]

    def stop(self) -> None:
        gevent.killall(self._greenlets)  # and wait for them to die: none renews a lease after the release
        self._greenlets = []
        self._release_leases()

    def _release_leases(self) -> None:
        """Best effort, at most as long as a lease lasts (past that they have expired anyway): a store that
        does not answer must not hold up the stop."""
        held = [_lease_name(job, room) for job, rooms in self._leases_held.items() for room in rooms]
        self._leases_held = {}
        if not held:
            return
        s = self.settings
        wait_s = max(s.click_stats_interval_s, s.reaction_stats_interval_s) * _LEASE_INTERVALS
        try:
            released = gevent.with_timeout(
                wait_s, self.live_state.release_leases, held, self.owner, timeout_value=None
            )
        except Exception as exc:  # a Redis outage: the leases expire by themselves
            failure = repr(exc)
        else:
            failure = None if released is not None else f"no answer within {wait_s:g} s"
        if failure is not None:
            log.warning(
                "releasing %d room lease(s) failed, they expire by themselves: %s", len(held), failure
            )

    @staticmethod
    def _every(interval_s: float, job: Callable[[], None]) -> None:
        """`job` every `interval_s`, counted from start to start (a heartbeat spreads its pings over half its
        interval), never twice at once."""
        failing = False
        due = time.monotonic()
        while True:
            due = max(due + interval_s, time.monotonic())
            gevent.sleep(max(0.0, due - time.monotonic()))
            try:
                job()
            except Exception as exc:  # a dependency outage must not end the job: it retries next interval
                if not failing:  # once per outage, not every interval
                    log.warning(
                        "real-time job %s failed (retrying every %g s): %r",
                        job.__name__,
                        interval_s,
                        exc,
                        exc_info=log.isEnabledFor(logging.DEBUG),
                    )
                failing = True
            else:
                if failing:
                    log.info("real-time job %s works again", job.__name__)
                failing = False
            finally:
                db.release()

    def _show_rooms(self) -> list[str]:
        """The rooms of shows (an owner's own room, for sales-stats, has no viewers nor counters)."""
        return [room for room in self.hub.rooms() if not events.is_owner_room(room)]

    # every worker -------------------------------------------------------------------------------
    def refresh_presence(self) -> None:
        for room in self._show_rooms():
            if self._counting(room):
                self.presence.refresh(
                    room, [m.rooms[room] for m in self.hub.members(room) if room in m.rooms]
                )

    def return_freed_memory(self) -> None:
        """After connections closed (thousands at once when a show's audience leaves), the memory they
        freed goes back to the system instead of staying with the worker."""
        open_now = len(self.connections)
        fewer, self._connections_seen = open_now < self._connections_seen, open_now
        if fewer:
            started = time.monotonic()
            if return_free_memory():
                log.debug("returned freed memory in %.1f ms", (time.monotonic() - started) * 1000)

    def _counting(self, room: str) -> bool:
        """Viewers of an ended (or deleted) session are not counted any more."""
        try:
            return self.facts.get(room).status != SessionStatus.ENDED
        except NotFound:
            return False

    def send_viewer_counts(self) -> None:
        rooms = self._show_rooms()
        counts = self.live_state.viewer_counts(rooms) if rooms else {}
        for room, count in counts.items():
            if self._counts_sent.get(room) != count:
                self.hub.send_local(room, events.encode(*events.viewer_count(room, count)))
        self._counts_sent = counts

    def heartbeat(self) -> None:
        connections = [c for c in self.connections if not c.dialect.engineio_heartbeat]
        for part in _spread(connections, self.settings.ws_heartbeat_interval_s):
            silent_since = time.monotonic() - self.settings.ws_idle_timeout_s
            for connection in part:
                if connection.last_seen < silent_since:
                    connection.close(wire.IDLE, "idle timeout")
                else:
                    connection.ping()

    def engineio_heartbeat(self) -> None:
        connections = [c for c in self.connections if c.dialect.engineio_heartbeat]
        for part in _spread(connections, self.settings.socketio_ping_interval_s):
            pinged_at = time.monotonic()
            for connection in part:
                connection.ping()
            gevent.spawn_later(self.settings.socketio_ping_timeout_s, _drop_unanswered, part, pinged_at)

    # once per room across the cluster -----------------------------------------------------------
    def _room_turns(self, job: str, interval_s: float, kind: str) -> Iterator[str]:
        """The rooms this worker broadcasts `job` for now: it holds their lease and something changed."""
        rooms = self._show_rooms()
        held = self._leases_held.setdefault(job, set())
        held.intersection_update(rooms)  # a room without members here is not renewed: its lease lapses
        for room in rooms:
            if not self.live_state.acquire_lease(
                _lease_name(job, room), self.owner, interval_s * _LEASE_INTERVALS
            ):
                held.discard(room)  # another worker's
                continue
            held.add(room)
            if self.live_state.take_dirty(room, kind):
                yield room

    def broadcast_click_stats(self) -> None:
        for room in self._room_turns("click-stats", self.settings.click_stats_interval_s, CLICKS):
            _, stats = self.sessions.conversion_stats(uuid.UUID(room))
            viewers, products = stats["totalViewers"], stats["products"]
            self.publisher.publish(room, events.product_click_stats(room, viewers, products))
            self.publisher.publish(room, events.trending_products(room, viewers, products))

    def broadcast_reaction_stats(self) -> None:
        for room in self._room_turns("reaction-stats", self.settings.reaction_stats_interval_s, REACTIONS):
            self.publisher.publish(room, events.reaction_stats(room, self.live_state.reaction_counts(room)))

    # once across the cluster --------------------------------------------------------------------
    def checkpoint(self) -> None:
        """Checkpoint every live session when it is this worker's turn. Two walks overlap only when one
        lasts longer than a turn; each writes the totals as they stood when it read them, and the next
        walk sets them right."""
        ask_s = self.settings.checkpoint_interval_s / _CHECKPOINT_ASKS
        if not self.live_state.take_turn(
            "checkpoint", self.owner, self.settings.checkpoint_interval_s - ask_s
        ):
            return
        for session_id in self.live_state.live_sessions():
            try:
                self.sessions.checkpoint(session_id)
            except Exception as exc:  # one session's failure must not skip the others
                log.warning("checkpoint of session %s failed: %r", session_id, exc)
            finally:
                db.release()


def _lease_name(job: str, room: str) -> str:
    return f"{job}:{room}"


def _spread(connections: list, interval_s: float):
    """`connections` in slices, one slice every `_PING_SPREAD` × interval / `_PING_SLICES` seconds: pinging a
    worker's thousands of sockets at once brought their answers back at once, and handling them held up
    the room broadcasts for up to a second (p99 of a 4,000-viewer room 1,087 ms with the pings, 144 ms
    without). Spread, each slice's answers cost a few milliseconds."""
    slices = max(1, min(_PING_SLICES, len(connections)))
    for index in range(slices):
        if index:
            gevent.sleep(interval_s * _PING_SPREAD / slices)
        yield connections[index::slices]  # one closed meanwhile takes its ping as a no-op


def _drop_unanswered(pinged: list, pinged_at: float) -> None:
    for connection in pinged:
        if not connection.dialect.answered_since(pinged_at):
            connection.close(wire.IDLE, "ping timeout")
