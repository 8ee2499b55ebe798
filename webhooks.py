"""WSGI entry point: ``gunicorn webhooks:app`` or ``flask --app webhooks run``."""

import sys

from ivr import create_app
from ivr.errors import IVRError

try:
    app = create_app()
except IVRError as error:
    # A setting the app refuses (a short PIN, unsigned mode with proxies...) or a menu it
    # cannot serve is said plainly, not as a traceback. Exit status 3 is what gunicorn reads
    # as "the worker failed to boot": it stops the server instead of restarting the worker.
    print(f"ivr101: {error}", file=sys.stderr)
    raise SystemExit(3) from None
