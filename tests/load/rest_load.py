"""REST load test: fill a PostgreSQL database in bulk, then drive the hot read routes with wrk.

Not part of the unit run (setup.cfg excludes tests/load). Steps, from the repo root:

    createdb -h 127.0.0.1 -U postgres bazaar_load
    export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bazaar_load REDIS_URL=redis://127.0.0.1:6379/5
    python tests/load/rest_load.py fill                      # 100,000 products, 2,000 sessions (~10 s)
    python tests/load/rest_load.py fill --small              # or 5 creators, 200 products, 40 shows
    bazaar serve --workers 2 &                               # LOG_LEVEL=warning keeps the access log quiet
    python tests/load/rest_load.py run --duration 20         # needs wrk (apt-get install -y wrk)

`fill` migrates, empties the tables and COPYs the rows in; `run` picks the ids
to hit from the database and runs wrk `--runs` times per route at 64
connections, printing req/s and the p50/p99 latencies wrk measured as ranges
over the runs (`--only search` runs the routes whose name holds that text).
Targets on a 2-core machine, 100,000 products: sessions/:id ≥ 2,000 req/s with
p99 ≤ 90 ms, products/:id ≥ 4,000 req/s, search/products?q=earbuds ≥ 300 req/s
with p99 ≤ 150 ms; on the small data set: products/:id ≥ 8,000 req/s,
search/products?q=earbuds ≥ 2,800 req/s and search/sessions?q=deals ≥ 2,000 req/s,
p99 ≤ 60 ms.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from datetime import datetime, timedelta

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from bazaar.infra import db, schema  # noqa: E402
from config import load_settings  # noqa: E402

BRANDS = [
    "Acme",
    "Northwind",
    "Globex",
    "Initech",
    "Umbra",
    "Vandelay",
    "Hooli",
    "Stark",
    "Wayne",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
    "Aperture",
    "Zenith",
    "Monarch",
    "Oceanic",
    "Pied Piper",
    "Wonka",
    "Gringotts",
    "Nakatomi",
    "Massive",
    "Dunder",
    "Bluth",
    "Krusty",
    "Sterling",
    "Prestige",
    "Duff",
    "Ollivander",
    "Kiko",
    "Lumen",
]
ADJECTIVES = [
    "Wireless",
    "Vintage",
    "Compact",
    "Premium",
    "Eco",
    "Classic",
    "Smart",
    "Portable",
    "Deluxe",
    "Mini",
    "Pro",
    "Ultra",
    "Handmade",
    "Organic",
    "Retro",
    "Sport",
    "Travel",
    "Noise-Cancelling",
    "Waterproof",
    "Ergonomic",
]
# noun → category; "Earbuds" is one noun of fifty, as it would be in a general shop.
NOUNS = {
    "Earbuds": "audio",
    "Headphones": "audio",
    "Speaker": "audio",
    "Turntable": "audio",
    "Microphone": "audio",
    "Lamp": "home",
    "Mug": "kitchen",
    "Backpack": "bags",
    "Sneakers": "shoes",
    "Jacket": "fashion",
    "Watch": "accessories",
    "Blender": "kitchen",
    "Kettle": "kitchen",
    "Notebook": "office",
    "Camera": "photo",
    "Tripod": "photo",
    "Charger": "electronics",
    "Keyboard": "electronics",
    "Mouse": "electronics",
    "Monitor": "electronics",
    "Desk": "furniture",
    "Chair": "furniture",
    "Sunglasses": "accessories",
    "Wallet": "accessories",
    "Perfume": "beauty",
    "Serum": "beauty",
    "Lipstick": "beauty",
    "Candle": "home",
    "Blanket": "home",
    "Pillow": "home",
    "Frying Pan": "kitchen",
    "Knife Set": "kitchen",
    "Yoga Mat": "sport",
    "Dumbbells": "sport",
    "Water Bottle": "sport",
    "Tent": "outdoor",
    "Sleeping Bag": "outdoor",
    "Drone": "photo",
    "Tablet": "electronics",
    "Phone Case": "electronics",
    "Smartwatch": "electronics",
    "Router": "electronics",
    "Guitar": "music",
    "Ukulele": "music",
    "Board Game": "toys",
    "Puzzle": "toys",
    "Teapot": "kitchen",
    "Coffee Grinder": "kitchen",
    "Toaster": "kitchen",
    "Boots": "shoes",
}
PHRASES = [
    "Built to last.",
    "Ships in two days.",
    "A best seller this season.",
    "Limited edition colours.",
    "Backed by a two-year warranty.",
    "Loved by our live audience.",
    "Designed in Lisbon.",
    "Made from recycled materials.",
    "Perfect as a gift.",
]
TABLES = (
    "search_outbox, product_click_stats, session_views, chat_messages, session_products, sessions, "
    "products, refresh_tokens, users"
)
PASSWORD_HASH = "$2b$04$kGk2VY5s8jv8C3rS6Zq7cO0yYvB8m0Zg8S9dYb3m7a9cS5l3d8e1W"  # never used to log in


def _copy(cursor, table: str, columns: list[str], rows) -> int:
    buffer = io.StringIO()
    count = 0
    for row in rows:
        buffer.write(
            "\t".join("\\N" if value is None else str(value).replace("\t", " ") for value in row) + "\n"
        )
        count += 1
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)
    return count


def fill(products: int, creators: int, sessions: int, seed: int) -> None:
    rng = random.Random(seed)
    epoch = datetime(2026, 1, 1)
    nouns = list(NOUNS)
    with db.connection():
        schema.migrate()
        cursor = db.database.cursor()
        cursor.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
        _copy(
            cursor,
            "users",
            ["username", "email", "password_hash", "role", "created_at", "updated_at"],
            (
                (f"creator{n}", f"creator{n}@load.test", PASSWORD_HASH, "creator", epoch, epoch)
                for n in range(1, creators + 1)
            ),
        )

        product_ids: dict[int, list[str]] = {}

        def product_rows():
            for n in range(products):
                noun, other = rng.choice(nouns), rng.choice(nouns)
                seller = rng.randint(1, creators)
                pid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                product_ids.setdefault(seller, []).append(pid)
                created = epoch + timedelta(seconds=n * 60)
                price = f"{rng.randint(1, 50000) / 100:.2f}"
                description = (
                    f"{rng.choice(PHRASES)} Pairs well with our {other.lower()}. {rng.choice(PHRASES)}"
                )
                yield (
                    pid,
                    seller,
                    f"{rng.choice(BRANDS)} {rng.choice(ADJECTIVES)} {noun} {rng.randint(1, 999)}",
                    description,
                    price,
                    None,
                    NOUNS[noun],
                    rng.random() < 0.85,
                    None,
                    created,
                    created,
                )

        _copy(
            cursor,
            "products",
            [
                "id",
                "seller_id",
                "name",
                "description",
                "price",
                "original_price",
                "category",
                "in_stock",
                "image_url",
                "created_at",
                "updated_at",
            ],
            product_rows(),
        )

        session_rows, link_rows = [], []
        for n in range(sessions):
            creator = rng.randint(1, creators)
            sid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            status = rng.choice(["scheduled", "live", "ended", "ended"])
            created = epoch + timedelta(minutes=n)
            started = created + timedelta(minutes=5) if status != "scheduled" else None
            ended = started + timedelta(hours=1) if status == "ended" else None
            own = product_ids.get(creator, [])
            chosen = rng.sample(own, min(len(own), 8))
            session_rows.append(
                (
                    sid,
                    creator,
                    f"{rng.choice(ADJECTIVES)} {rng.choice(nouns)} show {n}",
                    "Live shopping with " + ", ".join(NOUNS[noun] for noun in rng.sample(nouns, 3)),
                    rng.choice(list(set(NOUNS.values()))),
                    json.dumps(["live", "deals"]),
                    status,
                    None,
                    None,
                    sid if started else None,
                    created + timedelta(days=1),
                    started,
                    ended,
                    chosen[0] if chosen and status == "live" else None,
                    "{}",
                    0,
                    0,
                    created,
                    created,
                )
            )
            for order, pid in enumerate(chosen):
                link_rows.append((str(uuid.uuid4()), sid, pid, order < 2, order, created))
        _copy(
            cursor,
            "sessions",
            [
                "id",
                "creator_id",
                "title",
                "description",
                "category",
                "tags",
                "status",
                "stream_url",
                "stream_key",
                "agora_channel_name",
                "scheduled_at",
                "started_at",
                "ended_at",
                "active_product_id",
                "reaction_counts",
                "peak_viewers",
                "unique_clickers",
                "created_at",
                "updated_at",
            ],
            session_rows,
        )
        _copy(
            cursor,
            "session_products",
            ["id", "session_id", "product_id", "featured", "display_order", "created_at"],
            link_rows,
        )
        db.database.commit()
        cursor.execute("ANALYZE")
    print(
        f"filled: {creators} creators, {products} products, {sessions} sessions, {len(link_rows)} "
        f"session products"
    )


_WRK_SCRIPT = """
paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
"""

_LATENCY = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk(base_url: str, paths: list[str], connections: int, duration_s: int, threads: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path_file = os.path.join(tmp, "paths.txt")
        with open(path_file, "w") as out:
            out.write("\n".join(paths) + "\n")
        script = os.path.join(tmp, "paths.lua")
        with open(script, "w") as out:
            out.write(_WRK_SCRIPT % path_file)
        result = subprocess.run(
            [
                "wrk",
                "-t",
                str(threads),
                "-c",
                str(connections),
                "-d",
                f"{duration_s}s",
                "--latency",
                "-s",
                script,
                base_url,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    text = result.stdout
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))}
    for percentile, value, unit in _LATENCY.findall(text):
        figures[f"p{percentile}_ms"] = float(value) * _UNIT_MS[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    figures["non_2xx"] = int(errors.group(1)) if errors else 0
    return figures


def _range(values: list[float], digits: int) -> str:
    low, high = min(values), max(values)
    return (
        f"{low:.{digits}f}"
        if round(low, digits) == round(high, digits)
        else f"{low:.{digits}f}–{high:.{digits}f}"
    )


def run(
    base_url: str, connections: int, duration_s: int, threads: int, warmup_s: int, runs: int, only: str
) -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install -y wrk)")
    with db.connection():
        session_ids = [
            str(r[0])
            for r in db.database.execute_sql(
                "SELECT s.id FROM sessions s WHERE EXISTS (SELECT 1 FROM session_products sp WHERE "
                "sp.session_id = s.id) "
                "ORDER BY random() LIMIT 500"
            )
        ]
        product_ids = [
            str(r[0]) for r in db.database.execute_sql("SELECT id FROM products ORDER BY random() LIMIT 2000")
        ]
        products, product_matches = db.database.execute_sql(
            "SELECT count(*), count(*) FILTER (WHERE search_vector @@ to_tsquery('simple', 'earbuds:*')) "
            "FROM products"
        ).fetchone()
        sessions, session_matches = db.database.execute_sql(
            "SELECT count(*), count(*) FILTER (WHERE search_vector @@ to_tsquery('simple', 'deals:*')) "
            "FROM sessions"
        ).fetchone()
    routes = [
        ("GET /api/sessions/:id", [f"/api/sessions/{sid}" for sid in session_ids]),
        ("GET /api/products/:id", [f"/api/products/{pid}" for pid in product_ids]),
        (
            f"GET /api/search/products?q=earbuds ({product_matches} of {products})",
            ["/api/search/products?q=earbuds"],
        ),
        (
            f"GET /api/search/sessions?q=deals ({session_matches} of {sessions})",
            ["/api/search/sessions?q=deals"],
        ),
    ]
    print(f"wrk -t{threads} -c{connections} -d{duration_s}s against {base_url}, {runs} run(s) per route")
    print(f"{'route':52} {'req/s':>13} {'p50 ms':>11} {'p99 ms':>13} {'non-2xx':>8}")
    for name, paths in routes:
        if only not in name:
            continue
        if warmup_s:  # fills every worker's connection pool and PostgreSQL's caches first
            _wrk(base_url, paths, connections, warmup_s, threads)
        figures = [_wrk(base_url, paths, connections, duration_s, threads) for _ in range(runs)]
        print(
            f"{name:52} {_range([f['rps'] for f in figures], 0):>13} "
            f"{_range([f.get('p50_ms', 0) for f in figures], 1):>11} "
            f"{_range([f.get('p99_ms', 0) for f in figures], 1):>13} {sum(f['non_2xx'] for f in figures):8d}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fill_cmd = sub.add_parser("fill", help="migrate, empty the tables, COPY generated rows in")
    fill_cmd.add_argument("--products", type=int, default=100_000)
    fill_cmd.add_argument("--creators", type=int, default=500)
    fill_cmd.add_argument("--sessions", type=int, default=2_000)
    fill_cmd.add_argument("--seed", type=int, default=7)
    fill_cmd.add_argument(
        "--small", action="store_true", help="issue 12's small data set: 5 creators, 200 products, 40 shows"
    )
    run_cmd = sub.add_parser("run", help="drive the hot read routes with wrk")
    run_cmd.add_argument("--base-url", default="http://127.0.0.1:3000")
    run_cmd.add_argument("--connections", type=int, default=64)
    run_cmd.add_argument("--duration", type=int, default=20, help="seconds per route")
    run_cmd.add_argument("--threads", type=int, default=2)
    run_cmd.add_argument("--warmup", type=int, default=5, help="seconds of unmeasured load per route first")
    run_cmd.add_argument("--runs", type=int, default=3, help="measured runs per route (figures as ranges)")
    run_cmd.add_argument("--only", default="", help="run only the routes whose name holds this text")
    args = parser.parse_args()

    settings = load_settings()
    if settings.db_kind != "postgresql":
        sys.exit("DATABASE_URL must point at a PostgreSQL database (the load test fills it)")
    db.open_database(settings)
    if args.command == "fill":
        if args.small:
            args.products, args.creators, args.sessions = 200, 5, 40
        fill(args.products, args.creators, args.sessions, args.seed)
    else:
        run(args.base_url, args.connections, args.duration, args.threads, args.warmup, args.runs, args.only)


if __name__ == "__main__":
    main()
