"""The webhook URLs handed to Twilio, which carry a call's whole state between requests.

Node, attempt, language, hold cycle and which menu the call is on (``menu=draft`` for a
test caller's call on the draft menu) travel in the URL, never in process memory, so any
worker or instance can serve any step of any call. The webhooks' routes (``ivr.webhooks``)
read back exactly what these build.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit


@dataclass(frozen=True)
class Place:
    """What a webhook URL of ours says: which webhook, which node, and the call's state."""

    webhook: str
    """``node``, ``menu``, ``queue_wait``, ``queue_result``, ``transfer_result``,
    ``announcement`` or ``queue_callback``."""
    node: str | None = None
    params: dict[str, str] = field(default_factory=dict)

    def number(self, name: str, default: int) -> int:
        try:
            return int(self.params.get(name, default))
        except ValueError:
            return default


class UrlRoutes:
    """Builds the (relative) webhook URLs that carry a call's state."""

    def __init__(self, default_language: str, prefix: str = "", menu: str | None = None) -> None:
        self.default_language = default_language
        # Where the app lives under the public host (PUBLIC_BASE_URL's path), e.g. "/ivr".
        self.prefix = prefix
        # Which menu the call is on when it is not the published one ("draft"): every URL
        # carries it, so every webhook of the call is answered from the same menu.
        self.menu = menu

    def _q(self, language: str, **params: int) -> str:
        pairs = [f"{k}={v}" for k, v in params.items()]
        if language != self.default_language:
            pairs.append(f"lang={quote(language)}")
        if self.menu is not None:
            pairs.append(f"menu={quote(self.menu)}")
        return ("?" + "&".join(pairs)) if pairs else ""

    def parse(self, url: str) -> Place:
        """The inverse of the builders below: what one of our URLs asks for."""
        parts = urlsplit(url)
        path = parts.path.removeprefix(self.prefix).strip("/").split("/")
        params = dict(parse_qsl(parts.query))
        params.setdefault("lang", self.default_language)
        node = unquote(path[1]) if len(path) > 1 else None
        if path[0] in ("node", "menu"):
            return Place(path[0], node, params)
        if path[0] == "queue" and len(path) > 2:
            webhook = {"wait": "queue_wait", "result": "queue_result"}.get(path[2], path[2])
            if path[2] == "callback":
                return Place("queue_callback", node, params | {"step": path[3]})
            return Place(webhook, node, params)
        if path[0] == "transfer":
            return Place("transfer_result", node, params)
        return Place(path[0], node, params)

    def node(self, node_id: str, language: str) -> str:
        return f"{self.prefix}/node/{node_id}{self._q(language)}"

    def choose(self, node_id: str, attempt: int, language: str) -> str:
        return f"{self.prefix}/menu/{node_id}{self._q(language, attempt=attempt)}"

    def queue_wait(self, node_id: str, language: str, cycle: int) -> str:
        # Quoted: a caller held for a queue node gone in an edit keeps the id the URL had.
        node = quote(node_id, safe="")
        return f"{self.prefix}/queue/{node}/wait{self._q(language, cycle=cycle)}"

    def queue_result(self, node_id: str, language: str) -> str:
        return f"{self.prefix}/queue/{node_id}/result{self._q(language)}"

    def transfer_result(self, node_id: str, language: str) -> str:
        return f"{self.prefix}/transfer/{node_id}/result{self._q(language)}"

    def recover(self, node_id: str, language: str) -> str:
        """Like ``node``, marked as recovery from a fault so a second fault cannot loop."""
        return f"{self.prefix}/node/{node_id}{self._q(language, recover=1)}"

    def announcement(self, language: str) -> str:
        """Where a key pressed during the start-of-call announcements goes."""
        return f"{self.prefix}/announcement{self._q(language)}"

    def queue_callback(
        self,
        node_id: str,
        language: str,
        step: str,
        cycle: int,
        position: int,
        wait: int,
        attempt: int = 1,
    ) -> str:
        """A step of the callback offer (``offer``, ``confirm``, ``number``)."""
        q = self._q(language, cycle=cycle, position=position, wait=wait, attempt=attempt)
        return f"{self.prefix}/queue/{node_id}/callback/{step}{q}"


class HandlerRoutes:
    """The call-handler line's URLs. Past the door, each carries ``k``: the pass bound to the
    handler's own call (see :mod:`ivr.webhooks.handler`)."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    def _url(self, route: str, **params: object) -> str:
        return f"{self.prefix}/handler/{route}?{urlencode(params)}"

    def pin(self, attempt: int) -> str:
        """Where the PIN the caller keys goes."""
        return self._url("pin", attempt=attempt)

    def board(self, k: str, **params: int) -> str:
        """The queues read out (``again=1``: a key pressed to check now; ``round``: empty
        checks so far)."""
        return self._url("board", k=k, **params)

    def take(self, k: str) -> str:
        """Where the key for a queue goes."""
        return self._url("take", k=k)

    def connected(self, k: str, queue: str) -> str:
        """The ``<Queue url>`` played to the caller being taken."""
        return self._url("connected", k=k, queue=queue)
