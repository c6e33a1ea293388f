"""What importing a process's entry module loads: the search indexer runs beside the API on the same hosts
and must not carry the web stack (falcon), gevent or the Agora token builder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("falcon", "gevent", "agora_token_builder")


def loaded_by(module: str) -> list[str]:
    probe = f"import sys, {module}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    return [name for name in result.stdout.strip().split(",") if name]


def test_the_search_indexer_loads_no_web_stack_gevent_or_agora():
    assert loaded_by("search_indexer.cli") == []


def test_the_database_handle_loads_no_gevent_until_a_postgresql_pool_is_opened():
    assert loaded_by("bazaar.infra.db") == []
