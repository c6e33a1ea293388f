"""gunicorn settings for running the API directly: `gunicorn -c gunicorn.conf.py bazaar.wsgi:app`.

`bazaar serve` uses the same options (bazaar/serving.py); environment variables configure both.
"""

from bazaar.serving import gunicorn_options
from config import load_settings

globals().update(gunicorn_options(load_settings()))
