"""The floor served: bare Flask views answering each webhook with a constant document.

Each route answers the document our app gives for a typical request to it (so a virtual
caller can walk it: welcome, main menu, a queue with hold cycles, the end), read from the form
like any webhook, with no signature check, no model, no events.

    python -m bench.floor --port 5100 -w 2 -t 2      # under gunicorn, like ``ivr serve``
"""

from __future__ import annotations

import argparse

from flask import Flask, Response, request

from bench.cost import CALL, our_app, signed_request

ROUTES = {
    "/voice": ("/voice", {}),
    "/node/<node_id>": ("/node/main", {}),
    "/menu/<node_id>": ("/menu/main?attempt=1", {"Digits": "4"}),
    "/queue/<node_id>/wait": (
        "/queue/general_queue/wait?cycle=1",
        {"QueuePosition": "3", "QueueTime": "40", "AvgQueueTime": "95"},
    ),
    "/queue/<node_id>/result": ("/queue/general_queue/result", {"QueueResult": "hangup"}),
    "/transfer/<node_id>/result": ("/transfer/x/result", {"DialCallStatus": "completed"}),
    "/fallback": ("/fallback", {"ErrorCode": "11200"}),
}


def documents() -> dict[str, bytes]:
    """Our app's answer to a typical request on each route."""
    app = our_app()
    docs = {}
    for rule, (path, form) in ROUTES.items():
        status, body = signed_request(path, CALL | form)(app)
        if not status.startswith("200"):
            raise RuntimeError(f"{path}: {status}")
        docs[rule] = body
    return docs


def create_floor() -> Flask:
    docs = documents()
    app = Flask("floor")

    def make_view(body: bytes):
        def view(**_: str) -> Response:
            request.form  # noqa: B018 - read Twilio's form, as any webhook must
            return Response(body, mimetype="text/xml")

        return view

    for rule, body in docs.items():
        app.add_url_rule(rule, rule, make_view(body), methods=["POST"])

    @app.post("/status")
    def status() -> Response:
        request.form  # noqa: B018
        return Response(status=204)

    return app


def main(argv: list[str] | None = None) -> None:
    from ivr.webhooks.serve import Server, gunicorn_options

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5100)
    parser.add_argument("-w", "--workers", type=int, default=None)
    parser.add_argument("-t", "--threads", type=int, default=None)
    args = parser.parse_args(argv)
    options = gunicorn_options(args.host, args.port, args.workers, args.threads)
    Server(options, factory=create_floor).run()


if __name__ == "__main__":
    main()
