"""Fault injection during a live show: what is lost and how long recovery takes. Not part of the test run.

    python tests/load/chaos.py                           # 500 viewers, 2 instances × 2 workers
    python tests/load/chaos.py --viewers 200 --outage-s 10

Everything runs on private copies so nothing shared is disturbed: a PostgreSQL cluster (initdb in a
temporary directory, its own port), a redis-server, the Meilisearch emulator and the search indexer, and
two `bazaar serve --workers 2` instances on them. A creator goes live; the viewers (raw WebSockets, half on
each instance) join; a sender posts chat over REST at --chat-rate per second to both instances in turn, and
a few engagers send reactions and product clicks over WebSocket. Then, in turn, with --settle-s between:

1. SIGKILL one worker of instance A (gunicorn starts another);
2. stop Redis, restart it after --redis-down-s (empty: it keeps no snapshot);
3. restart PostgreSQL (`pg_ctl restart -m fast`);
4. stop the Meilisearch emulator for --outage-s while a product is renamed every second.

A viewer whose connection drops reconnects and rejoins with `sinceMessageId` (the last message it saw).
Printed per fault: seconds until fan-out works again on both instances (a chat message posted after the
fault reaches a viewer of each), until presence is right again (the session's viewer count equals the
connected viewers), until search finds the renamed product again (Meilisearch fault), and the 500s and
503s the chat sender got. At the end: acknowledged chat messages missing from the database (must be 0),
(viewer, message) pairs never delivered (live, or replayed on rejoin or after a Redis outage) and
those delivered twice, and acknowledged reactions and clicks against the counts
stored after end-stream (a Redis restart loses at most what came in since the last checkpoint,
CHECKPOINT_INTERVAL_S). Exit status 1 when a message was lost or a request got a 500.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psycopg2  # noqa: E402
import requests  # noqa: E402

from tests.conftest import AGORA_APP_CERTIFICATE, AGORA_APP_ID  # noqa: E402
from tests.support.meili_emulator import MeiliEmulator  # noqa: E402
from tests.support.server import REPO, RunningServer, free_port  # noqa: E402
from tests.support.ws_client import raw_handshake  # noqa: E402

NEW_MESSAGE_ID = re.compile(rb'"event":"new-message","data":\{"id":"([0-9a-f-]{36})"')
PASSWORD = "chaos-password-1"


# --- private services --------------------------------------------------------------------------------
class PrivatePostgres:
    """A PostgreSQL cluster of our own (PostgreSQL refuses to run as root: then as the `postgres` user)."""

    def __init__(self, root: Path):
        self.data = root / "pg"
        self.data.mkdir()
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(root, "postgres")
            shutil.chown(self.data, "postgres")
        self.port = free_port()
        subprocess.run(
            [*self._as, "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.start()
        conn = psycopg2.connect(self.admin_url)
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE bazaar_chaos")
        conn.close()

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/bazaar_chaos"

    def _ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c max_connections=200"
        subprocess.run(
            [*self._as, "pg_ctl", "-D", str(self.data), "-o", options, "-w", *args],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> None:
        self._ctl("-l", str(self.data / "log"), "start")

    def restart(self) -> None:
        self._ctl("-m", "fast", "restart")

    def stop(self) -> None:
        self._ctl("-m", "immediate", "stop")


class PrivateRedis:
    def __init__(self):
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


# --- traffic -----------------------------------------------------------------------------------------
class Viewers:
    """Raw WebSocket viewers in one selector loop: each records the chat message ids it receives and
    rejoins with `sinceMessageId` when its connection drops."""

    def __init__(self, instances: list[RunningServer], show_id: str, count: int):
        self.instances = instances
        self.show_id = show_id
        self.selector = selectors.DefaultSelector()
        self.seen: list[list[str]] = [[] for _ in range(count)]
        self.connected = [False] * count
        self.reconnects = 0
        self.lock = threading.Lock()
        self.stopping = False
        for index in range(count):
            self._connect(index)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def instance_of(self, index: int) -> int:
        return index % len(self.instances)

    def _connect(self, index: int) -> None:
        server = self.instances[self.instance_of(index)]
        data = {"sessionId": self.show_id}
        if self.seen[index]:
            data["sinceMessageId"] = self.seen[index][-1]
        sock = raw_handshake("127.0.0.1", server.port)
        payload = json.dumps({"event": "join-session", "data": data}).encode()
        mask = os.urandom(4)
        sock.sendall(
            bytes([0x81, 0x80 | 126])
            + len(payload).to_bytes(2, "big")
            + mask
            + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        )
        sock.setblocking(False)
        self.selector.register(sock, selectors.EVENT_READ, (index, bytearray()))
        self.connected[index] = True

    def _run(self) -> None:
        while not self.stopping:
            for key, _ in self.selector.select(timeout=0.2):
                index, buffer = key.data
                try:
                    chunk = key.fileobj.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    self._dropped(key.fileobj, index)
                    continue
                buffer += chunk
                with self.lock:
                    self.seen[index].extend(m.decode() for m in NEW_MESSAGE_ID.findall(buffer))
                del buffer[: max(0, len(buffer) - 200)]  # keep a tail: an id may span two reads

    def _dropped(self, sock, index: int) -> None:
        self.selector.unregister(sock)
        sock.close()
        self.connected[index] = False
        self.reconnects += 1
        while not self.stopping:
            try:
                self._connect(index)
                return
            except OSError:
                time.sleep(0.2)

    def received_by_instance(self, message_id: str) -> set[int]:
        with self.lock:
            return {self.instance_of(i) for i, seen in enumerate(self.seen) if message_id in seen[-50:]}

    def missing(self, acknowledged: list[str]) -> int:
        """Acknowledged messages some viewer never received (each viewer counted separately)."""
        with self.lock:
            return sum(len(set(acknowledged) - set(seen)) for seen in self.seen)

    def duplicates(self) -> int:
        """Messages a viewer received more than once (live, replayed on rejoin, replayed after an outage)."""
        with self.lock:
            return sum(len(seen) - len(set(seen)) for seen in self.seen)

    def stop(self) -> None:
        self.stopping = True
        self.thread.join()
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()


class Traffic:
    """Chat over REST to both instances in turn, reactions and clicks over WebSocket; what was acknowledged
    and every 5xx."""

    def __init__(self, instances, creator_token, show_id, product_id, chat_rate: float, engagers: int):
        self.instances = instances
        self.headers = {"Authorization": f"Bearer {creator_token}"}
        self.show_id, self.product_id = show_id, product_id
        self.chat_rate = chat_rate
        self.acknowledged: list[str] = []
        self.server_errors: list[str] = []  # 500s: bugs
        self.unavailable = 0  # 503s while a dependency is down: expected
        self.reactions_acked = self.clicks_acked = 0
        self.refusals: collections.Counter = collections.Counter()  # error codes and exceptions of engagers
        self.stopping = False
        self.threads = [threading.Thread(target=self._chat, daemon=True)]
        self.threads += [
            threading.Thread(target=self._engage, args=(n,), daemon=True) for n in range(engagers)
        ]
        for thread in self.threads:
            thread.start()

    def post_chat(self, text: str, instance: int) -> str | None:
        url = f"{self.instances[instance].base_url}/api/sessions/{self.show_id}/chat"
        try:
            resp = requests.post(url, json={"message": text}, headers=self.headers, timeout=5)
        except requests.RequestException:
            return None
        if resp.status_code == 503:
            self.unavailable += 1
        elif resp.status_code >= 500:
            self.server_errors.append(f"POST chat {resp.status_code} {resp.text[:120]}")
        if resp.status_code != 201:
            return None
        message_id = resp.json()["data"]["id"]
        self.acknowledged.append(message_id)
        return message_id

    def _chat(self) -> None:
        n = 0
        while not self.stopping:
            self.post_chat(f"steady {n}", n % len(self.instances))
            n += 1
            time.sleep(1 / self.chat_rate)

    def _engage(self, n: int) -> None:
        import websocket

        frames = [
            ("send-reaction", {"sessionId": self.show_id, "type": "like"}),
            ("product-click", {"sessionId": self.show_id, "productId": self.product_id}),
        ]
        ws = None
        ref = 0
        while not self.stopping:
            try:
                if ws is None:
                    ws = websocket.create_connection(
                        self.instances[n % len(self.instances)].ws_url, timeout=5, suppress_origin=True
                    )
                    ws.send(json.dumps({"event": "join-session", "data": {"sessionId": self.show_id}}))
                for event, data in frames:
                    ref += 1
                    ws.send(json.dumps({"event": event, "data": data, "ref": ref}))
                    while True:
                        text = ws.recv()
                        frame = json.loads(text) if text else {}  # "" for the server's pings
                        if frame.get("ref") == ref:
                            break
                    if frame["event"] == "ack":
                        if event == "send-reaction":
                            self.reactions_acked += 1
                        else:
                            self.clicks_acked += 1
                    else:
                        self.refusals[frame["data"].get("code")] += 1
                        if frame["data"].get("code") == "internal_error":
                            self.server_errors.append(f"ws {event}: {frame['data']}")
            except Exception as exc:
                self.refusals[type(exc).__name__] += 1
                ws = None
                time.sleep(0.2)
                continue
            time.sleep(0.25)  # 4 of each a second: under the per-connection limits

    def stop(self) -> None:
        self.stopping = True
        for thread in self.threads:
            thread.join(10)


# --- measuring recovery -------------------------------------------------------------------------------
def _data(resp: requests.Response):
    """The answer's `data` (product routes answer the bare object, as the front end expects)."""
    assert resp.status_code < 300, (resp.status_code, resp.text[:300])
    body = resp.json()
    return body.get("data", body)


def seconds_until(condition, timeout_s: float = 60.0, every_s: float = 0.2) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if condition():
            return round(time.monotonic() - started, 1)
        time.sleep(every_s)
    return None


def fan_out_recovered(traffic: Traffic, viewers: Viewers) -> float | None:
    """A message posted now reaches viewers on every instance (posting again until one does)."""
    probe: dict[str, str | None] = {"id": None, "at": 0.0}

    def reached_everywhere() -> bool:
        if probe["id"] is None or time.monotonic() - probe["at"] > 2:
            probe["id"] = traffic.post_chat(f"probe {uuid.uuid4().hex[:6]}", 0)
            probe["at"] = time.monotonic()
        return probe["id"] is not None and viewers.received_by_instance(probe["id"]) == set(
            range(len(viewers.instances))
        )

    return seconds_until(reached_everywhere)


def presence_recovered(server: RunningServer, show_id: str, viewers: Viewers, engagers: int) -> float | None:
    """The session's viewer count is the connected viewers plus the engagers (anonymous members too)."""

    def right() -> bool:
        try:
            data = requests.get(f"{server.base_url}/api/sessions/{show_id}", timeout=2).json()["data"]
        except (requests.RequestException, KeyError, ValueError):
            return False
        return data.get("viewerCount") == sum(viewers.connected) + engagers

    return seconds_until(right)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--viewers", type=int, default=500)
    parser.add_argument("--chat-rate", type=float, default=5.0, help="chat messages per second")
    parser.add_argument("--engagers", type=int, default=4, help="connections sending reactions and clicks")
    parser.add_argument("--settle-s", type=float, default=10.0)
    parser.add_argument("--redis-down-s", type=float, default=5.0)
    parser.add_argument("--outage-s", type=float, default=30.0, help="how long Meilisearch is down")
    parser.add_argument("--checkpoint-s", type=float, default=10.0, help="CHECKPOINT_INTERVAL_S")
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(2))  # stop what was started (the finally below)
    root = Path(tempfile.mkdtemp(prefix="bazaar-chaos-"))
    undo: list = []  # how to stop what has been started, newest first
    try:
        postgres = PrivatePostgres(root)
        undo.append(postgres.stop)
        redis = PrivateRedis()
        undo.append(redis.stop)
        meili = MeiliEmulator(port=free_port(), master_key="chaos-master-key").start()
        undo.append(meili.stop)
        return run(args, postgres, redis, meili, undo)
    finally:
        for step in reversed(undo):
            try:
                step()
            except Exception as exc:  # keep stopping the rest
                print(f"cleanup: {exc}", file=sys.stderr)
        shutil.rmtree(root, ignore_errors=True)


def run(args, postgres: PrivatePostgres, redis: PrivateRedis, meili: MeiliEmulator, undo: list) -> int:
    env = {
        "DATABASE_URL": postgres.url,
        "REDIS_URL": redis.url,
        "MEILI_URL": meili.url,
        "MEILI_MASTER_KEY": "chaos-master-key",
        "JWT_SECRET": "chaos-secret-0123456789abcdef-0123456789",
        "BCRYPT_ROUNDS": "4",
        "AGORA_APP_ID": AGORA_APP_ID,
        "AGORA_APP_CERTIFICATE": AGORA_APP_CERTIFICATE,
        "CHAT_RATE_COUNT": "1000000",
        "CHECKPOINT_INTERVAL_S": str(args.checkpoint_s),
        "PRESENCE_TTL_S": "10",
        "PRESENCE_REFRESH_S": "3",
        "MAX_CONNECTIONS_PER_ADDRESS": "100000",  # every viewer comes from 127.0.0.1
    }
    child_env = {**{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}, **env}
    subprocess.run([sys.executable, "-m", "bazaar", "migrate"], cwd=REPO, env=child_env, check=True)
    indexer = subprocess.Popen(
        [sys.executable, "-m", "search_indexer.cli", "run"],
        cwd=REPO,
        env=child_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    undo.append(indexer.terminate)
    instances = []
    for name in ("chaos-a", "chaos-b"):
        instances.append(RunningServer(env, workers=2, name=name).start())
        undo.append(instances[-1].kill)
    a = instances[0]
    resp = a.post(
        "/api/auth/register",
        json={
            "username": "chaoscreator",
            "email": "chaos@example.test",
            "password": PASSWORD,
            "role": "creator",
        },
    )
    token = resp.data["accessToken"]
    headers = {"Authorization": f"Bearer {token}"}
    product = _data(
        requests.post(
            f"{a.base_url}/api/products",
            headers=headers,
            timeout=5,
            json={"name": "Chaos lamp", "price": 10, "category": "home"},
        )
    )
    show = _data(
        requests.post(
            f"{a.base_url}/api/sessions",
            headers=headers,
            timeout=5,
            json={"title": "Chaos live", "productIds": [product["id"]]},
        )
    )
    _data(requests.post(f"{a.base_url}/api/sessions/{show['id']}/start-stream", headers=headers, timeout=5))

    viewers = Viewers(instances, show["id"], args.viewers)
    traffic = Traffic(instances, token, show["id"], product["id"], args.chat_rate, args.engagers)
    time.sleep(args.settle_s)
    figures = []

    def fault(name: str, inject) -> None:
        print(f"fault: {name}", flush=True)
        errors_before, unavailable_before = len(traffic.server_errors), traffic.unavailable
        search_s = inject()
        figures.append(
            {
                "fault": name,
                "fan-out s": fan_out_recovered(traffic, viewers),
                "presence s": presence_recovered(a, show["id"], viewers, args.engagers),
                "search s": search_s,
                "500": len(traffic.server_errors) - errors_before,
                "503": traffic.unavailable - unavailable_before,
            }
        )
        time.sleep(args.settle_s)

    def kill_worker():
        os.kill(a.pids()[1], signal.SIGKILL)

    def bounce_redis():
        redis.stop()
        time.sleep(args.redis_down_s)
        redis.start()

    def bounce_meili():
        meili.stop()
        name = ""
        for n in range(int(args.outage_s)):
            name = f"Chaos lamp {n} {uuid.uuid4().hex[:6]}"
            requests.put(
                f"{a.base_url}/api/products/{product['id']}",
                headers=headers,
                timeout=5,
                json={"name": name},
            )
            time.sleep(1)
        meili.start()
        word = name.split()[-1]

        def found() -> bool:
            resp = requests.get(f"{a.base_url}/api/search/products", params={"q": word}, timeout=5)
            return resp.headers.get("X-Search-Backend") == "meilisearch" and bool(resp.json().get("results"))

        return seconds_until(found)

    fault("SIGKILL one worker", kill_worker)
    fault(f"Redis down {args.redis_down_s:g} s", bounce_redis)
    fault("PostgreSQL restart", postgres.restart)
    fault(f"Meilisearch down {args.outage_s:g} s", bounce_meili)

    traffic.stop()
    time.sleep(3)  # the last messages arrive; rejoined viewers finish their replay
    missed_live = viewers.missing(traffic.acknowledged)
    duplicates = viewers.duplicates()
    stored = set(chat_history(a, show["id"]))
    lost = [message_id for message_id in traffic.acknowledged if message_id not in stored]
    _data(requests.post(f"{a.base_url}/api/sessions/{show['id']}/end-stream", headers=headers, timeout=10))
    reactions = _data(requests.get(f"{a.base_url}/api/sessions/{show['id']}/reactions", timeout=5))
    stats = _data(
        requests.get(f"{a.base_url}/api/sessions/{show['id']}/conversion-stats", headers=headers, timeout=5)
    )
    viewers.stop()

    print(
        f"\n{args.viewers} viewers, 2 instances × 2 workers, chat {args.chat_rate:g}/s, "
        f"{args.engagers} engagers, CHECKPOINT_INTERVAL_S={args.checkpoint_s:g}"
    )
    print(f"{'fault':<24} {'fan-out s':>10} {'presence s':>11} {'search s':>9} {'500':>4} {'503':>4}")
    for row in figures:
        search = row["search s"] if row["search s"] is not None else "–"
        print(
            f"{row['fault']:<24} {row['fan-out s']!s:>10} {row['presence s']!s:>11} {search!s:>9} "
            f"{row['500']:>4} {row['503']:>4}"
        )
    clicks = sum(product["totalClicks"] for product in stats.get("products", []))
    print(f"chat: {len(traffic.acknowledged)} acknowledged, {len(lost)} lost (not in the database)")
    print(
        f"      {missed_live} (viewer, message) pairs never delivered, {duplicates} delivered twice; "
        f"{viewers.reconnects} viewer reconnects (rejoined with sinceMessageId)"
    )
    print(f"reactions: {traffic.reactions_acked} acknowledged, {reactions['total']} stored")
    print(f"clicks: {traffic.clicks_acked} acknowledged, {clicks} stored")
    print(f"engagers' refusals: {dict(traffic.refusals)}")
    print(f"500s: {traffic.server_errors[:5]}")
    return 0 if not lost and not traffic.server_errors else 1


def chat_history(server: RunningServer, show_id: str) -> list[str]:
    """Every stored chat message id of the show, newest first (paging back with `before`)."""
    ids: list[str] = []
    params: dict = {"limit": 100}
    while True:
        page = _data(
            requests.get(f"{server.base_url}/api/sessions/{show_id}/chat", params=params, timeout=10)
        )
        if not page:
            return ids
        ids += [message["id"] for message in reversed(page)]
        params["before"] = page[0]["id"]


if __name__ == "__main__":
    sys.exit(main())
