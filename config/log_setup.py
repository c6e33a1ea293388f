"""Logging: one line per record on stderr, level from settings."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


def configure_logging(level: str = "info") -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), format=FORMAT, force=True)
    # peewee logs every SQL statement at DEBUG, with parameters (which may hold secrets).
    logging.getLogger("peewee").setLevel(logging.INFO)
