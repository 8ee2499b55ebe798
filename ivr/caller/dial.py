"""<Dial> as Twilio runs it (https://www.twilio.com/docs/voice/twiml/dial).

The caller's strategy decides how the dial goes (:class:`~ivr.caller.strategy.DialResult`).
Then, as Twilio does: a connected party talks for at most ``timeLimit`` seconds; a
``<Conference>`` reports ``DialCallStatus=answered`` without ``DialCallSid`` or
``DialCallDuration``; ``DialBridged`` says whether the parties were connected; ``record`` adds
``RecordingUrl``; a caller who hangs up during the dial still has the action requested (its
answer is ignored). Before the bridge, a ``<Number url>`` (a whisper, on the dialled party's
leg) or a ``<Queue url>`` (on the dequeued caller's leg) is requested and its TwiML timed; a
<Hangup> in it ends that leg unbridged. ``sendDigits`` are played once the party answers, and
with ``answerOnBridge`` the caller's own call is answered only at the bridge.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urljoin

from ..errors import ApplicationError, HTTPStatusError
from .clock import endless, nested
from .control import CallOver, Fetch, QueueStay, new_sid
from .document import DIAL_NOUNS, Document, attribute, flag, method, read, text_of, whole
from .strategy import DialTarget
from .trace import CallEventKind
from .webhook import timestamp

LEG_REDIRECTS = 10  # a leg's <Redirect> chain the simulator follows


class DialVerb:
    """<Dial> for :class:`~ivr.caller.interpreter.Call` (a mixin)."""

    def _verb_dial(self, el: ET.Element, url: str, queue: QueueStay | None) -> Fetch | None:
        nouns = [c for c in el if isinstance(c.tag, str) and c.tag in DIAL_NOUNS]
        targets = [DialTarget(DIAL_NOUNS[n.tag], text_of(n)) for n in nouns]
        bare = (el.text or "").strip()
        if bare and not targets:
            targets = [DialTarget("number", bare)]
        if not targets:
            raise self._schema("<Dial> has nothing to dial", url, "Dial")
        action = urljoin(url, el.get("action")) if el.get("action") else None
        verb_method = method(el)
        timeout = whole(el, "timeout", 30) or 0
        time_limit = whole(el, "timeLimit", 14400) or 14400
        recorded = attribute(el, "record").lower() not in ("false", "do-not-record")
        on_bridge = flag(el, "answerOnBridge")
        options = {
            "callerId": el.get("callerId"),
            "hangupOnStar": flag(el, "hangupOnStar") or None,
            "answerOnBridge": on_bridge or None,
            "record": attribute(el, "record") if recorded else None,
            "timeLimit": time_limit if el.get("timeLimit") else None,
        }
        self._emit(
            CallEventKind.DIAL,
            targets=[{"kind": t.kind, "value": t.value} for t in targets],
            url=action,
            method=verb_method if action else None,
            seconds=float(timeout),
            detail={k: v for k, v in options.items() if v},
        )
        result = self.caller.on_dial(targets)
        self._caller_acted()
        conference = targets[0].kind == "conference"
        status = result.status
        if conference and status == "completed":
            status = "answered"  # Twilio's status for a conference that was joined
        connected = status in ("completed", "answered")
        dial_sid = new_sid("CA")
        bridged, talk = False, 0
        if connected:
            bridged = self._leg(nouns[0] if nouns else None, targets[0], dial_sid, url, el)
            if bridged:
                if on_bridge:
                    self._answer()
                talk = min(result.duration, time_limit)
                star = result.ended_by == "star" and flag(el, "hangupOnStar")
                self._advance(talk)
                if star:
                    self._emit(
                        CallEventKind.INPUT,
                        result="dtmf",
                        digits="*",
                        detail={"hangupOnStar": True},
                    )
        elif status == "no-answer":
            self._advance(timeout)  # it rang out
        if not bridged and on_bridge and self.answered_at is None:
            self._unanswered_status = status if status != "completed" else "no-answer"
        self._emit(
            CallEventKind.DIAL_RESULT,
            result=status,
            seconds=float(talk),
            detail={"bridged": bridged, "ended_by": result.ended_by},
        )
        self._dialled = (tuple(t.value for t in targets), status)
        params = {"DialCallStatus": status, "DialBridged": "true" if bridged else "false"}
        if not conference:
            params["DialCallSid"] = dial_sid
            if connected:
                params["DialCallDuration"] = str(talk)
        if recorded and bridged:
            params["RecordingUrl"] = self._dial_recording(el, url, dial_sid, talk)
        if targets[0].kind == "queue" and bridged:
            params["QueueSid"] = self._queue_sids.setdefault(targets[0].value, new_sid("QU"))
            params["QueueTime"] = str(self.avg_queue_time)
        if result.ended_by == "caller" or status == "canceled":
            # The caller hung up: Twilio still tells the action URL, and ignores its answer.
            self._status = "completed"
            if action:
                self._notify(Fetch(action, verb_method, params), "Dial action")
            raise CallOver("caller")
        if action is None:
            return None  # Twilio goes on with the next verb after <Dial>
        return Fetch(action, verb_method, params)

    def _dial_recording(self, el: ET.Element, url: str, dial_sid: str, talk: int) -> str:
        sid = new_sid("RE")
        recording = (
            f"https://api.twilio.com/2010-04-01/Accounts/{self.record.account_sid}/Recordings/{sid}"
        )
        status_url = el.get("recordingStatusCallback")
        if status_url:
            params = {
                "AccountSid": self.record.account_sid,
                "CallSid": self.record.call_sid,
                "RecordingSid": sid,
                "RecordingUrl": recording,
                "RecordingStatus": "completed",
                "RecordingDuration": str(talk),
                "RecordingChannels": "2" if attribute(el, "record").endswith("dual") else "1",
                "RecordingStartTime": timestamp(),
                "RecordingSource": "DialVerb",
                "ErrorCode": "0",
            }
            callback_method = method(el, "recordingStatusCallbackMethod")
            self._notify(
                Fetch(urljoin(url, status_url), callback_method, params),
                "recording status callback",
                standard=False,
            )
        return recording

    def _leg(
        self,
        noun: ET.Element | None,
        target: DialTarget,
        dial_sid: str,
        url: str,
        dial: ET.Element,
    ) -> bool:
        """What runs on the other leg before the bridge; False if it ended the leg."""
        if noun is None:
            return True
        digits = attribute(noun, "sendDigits") if noun.tag == "Number" else ""
        if digits:
            self._emit(CallEventKind.SEND_DIGITS, digits=digits, detail={"to": target.value})
            self._advance(digits.lower().count("w") * 0.5)
        leg_url = noun.get("url")
        if not leg_url:
            return True
        if noun.tag == "Queue":
            member = new_sid("CA")
            params = self.base_params() | {
                "CallSid": member,
                "QueueSid": self._queue_sids.setdefault(target.value, new_sid("QU")),
                "QueueTime": str(self.avg_queue_time),
                "DequeingCallSid": self.record.call_sid,
            }
            who = f"the caller dequeued from {target.value!r}"
        else:
            params = {
                "CallSid": dial_sid,
                "ParentCallSid": self.record.call_sid,
                "AccountSid": self.record.account_sid,
                "From": dial.get("callerId") or self.from_number,
                "To": target.value,
                "CallStatus": "in-progress",
                "Direction": "outbound-dial",
                "ApiVersion": "2010-04-01",
            }
            who = target.value
        fetch: Fetch | None = Fetch(urljoin(url, leg_url), method(noun), params)
        for _ in range(LEG_REDIRECTS):
            if fetch is None:
                return True
            try:
                sent, doc_url, response = self._send(fetch, guarded=False, standard=False)
                if not 200 <= response.status < 300:
                    raise HTTPStatusError(
                        f"the webhook answered HTTP {response.status}",
                        url=sent,
                        status=response.status,
                    )
                document = read(doc_url, sent, response)
            except ApplicationError as exc:
                self._warn(f"{who}'s leg: {exc.message} ({fetch.url}): not bridged")
                return False
            hung_up, fetch = self._run_leg(document, who, params)
            if hung_up:
                return False
        return True

    def _run_leg(
        self, document: Document, who: str, params: dict[str, str]
    ) -> tuple[bool, Fetch | None]:
        """Time a leg's document; the caller hears none of it (the other party is silent).
        Returns whether it hung up, and the document it redirects to."""
        for verb in document.verbs:
            if verb.tag in ("Say", "Play", "Pause"):
                text = text_of(verb) if verb.tag != "Pause" else f"[pause {verb.get('length', 1)}s]"
                self._emit(CallEventKind.LEG, text=text, detail={"to": who, "verb": verb.tag})
                once = self.timing.once(verb)
                self._advance(once if endless(verb) else self.timing.verb_seconds(verb))
            elif verb.tag == "Gather":
                for child in nested(verb):
                    self._emit(
                        CallEventKind.LEG,
                        text=text_of(child),
                        detail={"to": who, "verb": child.tag},
                    )
                self._advance(self.timing.verb_seconds(verb))  # nobody presses on that leg
            elif verb.tag in ("Hangup", "Reject"):
                self._emit(
                    CallEventKind.LEG, text="(hangs up)", detail={"to": who, "verb": verb.tag}
                )
                return True, None
            elif verb.tag == "Redirect":
                return False, Fetch(urljoin(document.url, text_of(verb)), method(verb), params)
        return False, None
