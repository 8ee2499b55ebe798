"""WSGI entry point: ``gunicorn webhooks:app`` or ``flask --app webhooks run``."""

from ivr import create_app

app = create_app()
