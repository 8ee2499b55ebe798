"""Gunicorn's settings for ``gunicorn webhooks:app`` run from this folder: those of ``ivr serve``.

Gunicorn reads ``./gunicorn.conf.py`` by itself, so the README's systemd recipe gets the same
gevent workers (slow clients cannot starve callers) and the same forwarded-header policy (the
app's IVR_TRUSTED_PROXIES decides, not gunicorn) as ``ivr serve``. Flags given on gunicorn's
command line still win; ``--bind`` is left to them (gunicorn's default, 127.0.0.1:8000).
"""

import sys

from ivr.errors import ConfigError
from ivr.webhooks.serve import gunicorn_options

try:
    _options = gunicorn_options()
except ConfigError as error:
    # One clear line, as `ivr serve` prints, instead of gunicorn's "Failed to read config file"
    # and a traceback.
    print(f"ivr101: {error}", file=sys.stderr)
    raise SystemExit(3) from None
globals().update({k: v for k, v in _options.items() if k not in ("bind", "proc_name")})
