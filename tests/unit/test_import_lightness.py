"""What importing a process's entry module loads: the search indexer runs beside the API on the same hosts
and must not carry the web stack (falcon), gevent or the Agora token builder; the API server's processes
must not carry HTTP and WebSocket client stacks they never use (every module imported is memory in each
of its processes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("falcon", "gevent", "agora_token_builder")
CLIENT_STACKS = ("requests", "urllib3", "websocket", "socketio", "engineio", "meilisearch")


def loaded_by(module: str, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    probe = f"import sys, {module}; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    return [name for name in result.stdout.strip().split(",") if name]


def test_the_search_indexer_loads_no_web_stack_gevent_or_agora():
    assert loaded_by("search_indexer.cli") == []


def test_the_database_handle_loads_no_gevent_until_a_postgresql_pool_is_opened():
    assert loaded_by("bazaar.infra.db") == []


def test_the_api_server_loads_no_client_stacks():
    """The Socket.IO dialect's packets are our own codec (python-socketio's package imports its clients and
    servers with it); the Meilisearch client is imported only when a Meilisearch backend is configured."""
    assert loaded_by("bazaar.app, bazaar.serving, bazaar.cli", CLIENT_STACKS) == []
