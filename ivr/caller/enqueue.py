"""<Enqueue> and its wait documents as Twilio runs them.

See https://www.twilio.com/docs/voice/twiml/enqueue.

Each waitUrl document (the first, one re-requested when it runs out, or one reached by a
<Redirect> or a <Gather> action in it) is one wait cycle; before each, the caller's strategy
says what happens: keep waiting, or one of Twilio's QueueResults. Without a ``waitUrl`` Twilio
plays its default classical playlist (a GET to its own server, never made here);
``waitUrl=""`` holds in silence. A ``loop="0"`` Say or Play in a wait document plays on, and
the waitUrl is not requested again. An error in a wait document, or in the <Enqueue> itself,
is ``QueueResult=error`` (the call goes on with the action), not an application error.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urljoin

from ..errors import ApplicationError
from .control import CallOver, Endless, Fetch, LeaveQueue, QueueStay, new_sid
from .document import method, text_of
from .strategy import ON_ENTRY, QueueState, queue_result_of
from .trace import CallEventKind

DEFAULT_WAIT_URL = "https://s3.amazonaws.com/com.twilio.sounds.music/index.xml"
"""Twilio's default classical playlist, requested with GET when <Enqueue> has no waitUrl."""


class EnqueueVerb:
    """<Enqueue> for :class:`~ivr.caller.interpreter.Call` (a mixin)."""

    def _queue_params(self, q: QueueStay) -> dict[str, str]:
        return {
            "QueueSid": q.sid,
            "QueuePosition": str(q.position),
            "QueueTime": str(q.queue_time),
            "AvgQueueTime": str(self.avg_queue_time),
            "CurrentQueueSize": str(max(q.position, 1)),
            "MaxQueueSize": str(self.max_queue_size),
        }

    def _verb_enqueue(self, el: ET.Element, url: str, queue: QueueStay | None) -> Fetch | None:
        name = (el.text or "").strip() if len(el) else text_of(el)
        action = urljoin(url, el.get("action")) if el.get("action") else None
        verb_method = method(el)
        raw_wait = el.get("waitUrl")
        raw_method = (el.get("waitUrlMethod") or "").strip().upper()
        problem: str | None = None
        if raw_wait is None:
            hold, wait_url, wait_method = "default", DEFAULT_WAIT_URL, "GET"
        elif not raw_wait.strip():
            hold, wait_url, wait_method = "silent", None, "GET"
        else:
            hold, wait_url, wait_method = "url", urljoin(url, raw_wait), raw_method or "POST"
        if raw_method and raw_method not in ("GET", "POST"):
            raw = el.get("waitUrlMethod")
            problem = f'error 14206: <Enqueue waitUrlMethod="{raw}">: use GET or POST'
        if len(name) > 64:
            problem = f"<Enqueue>: a queue name is at most 64 characters ({len(name)})"
        sid = self._queue_sids.setdefault(name, new_sid("QU"))
        q = QueueStay(name, sid, self.queue_position)
        self._emit(
            CallEventKind.ENQUEUE,
            queue=name,
            url=action,
            method=verb_method if action else None,
            detail={"waitUrl": wait_url if hold != "silent" else "", "waitUrlMethod": wait_method},
        )
        result: str | None = None
        over: CallOver | None = None
        if problem:
            self._warn(problem + ": QueueResult=error")
            result = "error"
        next_wait: Fetch | None = None
        while result is None:
            state = QueueState(name, sid, q.position, q.queue_time, q.position, q.cycle)
            choice = self.caller.on_queue(state)
            self._caller_acted()
            if choice not in ON_ENTRY:
                q.enqueued = True
            if choice == "wait":
                q.cycle += 1
                self._emit(
                    CallEventKind.QUEUE_WAIT, queue=name, position=q.position, seconds=q.queue_time
                )
                started = self.clock
                try:
                    next_wait = self._wait_cycle(q, next_wait, wait_url, wait_method, hold)
                except LeaveQueue:
                    result = "leave"
                except CallOver as ended:
                    result, over = "hangup", ended
                except ApplicationError as exc:
                    # Twilio: "error: The TwiML contained an error ... in the TwiML retrieved
                    # from a waitUrl". The caller goes on to the action.
                    self._warn(f"waitUrl {exc.url}: {exc.message}: QueueResult=error")
                    result = "error"
                q.queue_time += max(1, round(self.clock - started))
                q.position = max(1, q.position - 1)
            elif choice in ("answer", "redirected-from-bridged"):
                result = queue_result_of(choice)
                # The handler talks with the caller, then hangs up (or transfers them out).
                self._advance(self.handler_seconds)
            elif choice in ON_ENTRY or choice in ("hangup", "redirected", "bridging-in-process"):
                result = choice
            else:
                raise ValueError(f"unknown queue choice {choice!r}")
        params = {"QueueResult": result}
        if q.enqueued:
            params |= {"QueueSid": sid, "QueueTime": str(q.queue_time)}
        self._emit(CallEventKind.QUEUE_RESULT, queue=name, result=result, seconds=q.queue_time)
        self._queue = (name, result)
        if result == "hangup":
            if action:
                self._status = "completed"
                # The caller is gone: Twilio still tells the action URL, and ignores its answer.
                self._notify(Fetch(action, verb_method, params), "Enqueue action")
            raise over or CallOver("caller")
        if action:
            return Fetch(action, verb_method, params)
        return None  # no action: on with the next verb after <Enqueue>

    def _wait_cycle(
        self,
        q: QueueStay,
        fetch: Fetch | None,
        wait_url: str | None,
        wait_method: str,
        hold: str,
    ) -> Fetch | None:
        """Run one wait cycle; return where the next one comes from (None: the waitUrl)."""
        if q.endless is not None:
            verb = q.endless
            self._emit(
                CallEventKind(verb.tag.lower()),
                text=text_of(verb) if verb.tag == "Say" else None,
                url=None if verb.tag == "Say" else text_of(verb),
                loop=0,
                detail={"repeats": True},
            )
            self._advance(self.timing.once(verb))
            return None
        if hold == "default":
            self._emit(
                CallEventKind.PLAY, url=wait_url, method=wait_method, detail={"hold_music": True}
            )
            self._advance(self.timing.play_seconds)
            return None
        if hold == "silent":
            self._emit(
                CallEventKind.PAUSE, seconds=self.timing.play_seconds, detail={"silent_hold": True}
            )
            self._advance(self.timing.play_seconds)
            return None
        assert wait_url is not None
        if fetch is None:
            fetch = Fetch(wait_url, wait_method)
        fetch.params = self._queue_params(q) | fetch.params
        document = self._fetch(fetch, wait=True)
        try:
            return self._run_verbs(document, q)
        except Endless as loop:
            q.endless = loop.verb
            return None
