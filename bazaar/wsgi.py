"""The WSGI entry point gunicorn workers import (after gevent has patched the process)."""

from psycogreen.gevent import patch_psycopg

from bazaar.app import create_app
from config import load_settings
from config.log_setup import configure_logging

# psycopg2 would block the whole gevent worker on every query without this.
patch_psycopg()
settings = load_settings()
configure_logging(settings.log_level)
app = create_app(settings)
