"""Turn call events into lines a person can read in a terminal."""

from __future__ import annotations

from collections.abc import Iterable

from .trace import CallEvent, CallEventKind, CallRecord


def _voice(event: CallEvent) -> str:
    parts = [event.voice or "default voice", event.language or "en-US"]
    return ", ".join(parts)


def describe(event: CallEvent, *, verbose: bool = False, errors: bool = True) -> str | None:
    """One line for an event, or None for events shown only when ``verbose``.

    ``errors=False`` leaves the application error's own message out of its line (for a
    caller that prints the error in full afterwards)."""
    d = event.detail
    kind = event.kind
    if kind == CallEventKind.REQUEST:
        status = f" -> {event.status} {d.get('content_type', '')}" if event.status else ""
        if "redirected_from" in d:
            # An HTTP redirect hop is part of what Twilio did: always shown.
            return (
                f"  -> HTTP {d['redirect_status']} redirect: Twilio requests "
                f"{event.method} {event.url}{status} (without the verb's parameters)"
            )
        if not verbose:
            return None
        return f"  . {event.method} {event.url}{status}"
    if kind == CallEventKind.SAY:
        loop = ""
        if event.loop == 0:
            loop = " (repeats)"
        elif event.loop and event.loop > 1:
            loop = f" (x{event.loop})"
        return f"  Twilio ({_voice(event)}): {event.text}{loop}"
    if kind == CallEventKind.PLAY:
        if d.get("hold_music"):
            return f"  [hold music: Twilio's default playlist, {event.method} {event.url}]"
        if event.url is None:
            return f"  [tones {event.digits}]"
        return f"  [audio {event.url}]" + (" (repeats)" if event.loop == 0 else "")
    if kind == CallEventKind.PAUSE:
        if d.get("silent_hold"):
            return f'  [silence {event.seconds:g}s: waitUrl=""]'
        if d.get("ringing"):
            return f"  [ringing {event.seconds:g}s: a leading <Pause> delays the answer]"
        return f"  [pause {event.seconds:g}s]"
    if kind == CallEventKind.GATHER:
        what = " or ".join("keys" if i == "dtmf" else i for i in d.get("input", "dtmf").split())
        extra = f", {d['numDigits']} digit(s)" if d.get("numDigits") else ""
        return f"  ... listening for {what}{extra} (timeout {event.seconds:g}s)"
    if kind == CallEventKind.INPUT:
        if event.result == "dtmf":
            if d.get("hangupOnStar"):
                return "> caller presses * (hangupOnStar: the dialled party is hung up)"
            if d.get("barge_in"):
                unheard = d.get("unheard") or 0
                rest = f"; {unheard} nested verb(s) not heard" if unheard else ""
                return f"> caller presses {event.digits} (barge-in at {event.at:g}s{rest})"
            return f"> caller presses {event.digits}"
        if event.result == "speech":
            return f"> caller says {event.speech!r}"
        if event.result == "silence":
            return "> caller stays silent"
        return "> caller hangs up" + (f" ({d['note']})" if d.get("note") else "")
    if kind == CallEventKind.REDIRECT:
        return f"  -> redirect to {event.url}" if verbose else None
    if kind == CallEventKind.RECORD:
        return "  ... recording (beep)" if d.get("playBeep") else "  ... recording"
    if kind == CallEventKind.RECORDED:
        if d.get("empty"):
            return "  [nothing recorded]"
        ended = {"key": f"ended with {event.digits}", "hangup": "the caller hung up"}
        how = ended.get(d.get("ended_by", ""), f"ended by {d.get('ended_by', 'silence')}")
        return f"  [recorded {event.seconds:g}s, {how}]"
    if kind == CallEventKind.DIAL:
        targets = ", ".join(f"{t['kind']} {t['value']}" for t in event.targets or [])
        return f"  DIAL {targets} (at {event.at:g}s)"
    if kind == CallEventKind.DIAL_RESULT:
        bridged = "" if d.get("bridged", True) else " (not bridged)"
        return f"  dial result: {event.result}{bridged}"
    if kind == CallEventKind.LEG:
        return f"  [{d.get('to')} hears: {event.text}]"
    if kind == CallEventKind.SEND_DIGITS:
        return f"  [tones {event.digits} sent to {d.get('to')}]"
    if kind == CallEventKind.WARNING:
        return f"! {event.text}"
    if kind == CallEventKind.CALLBACK:
        answer = f"HTTP {event.status}" if event.status else "no answer"
        return f"  ({event.text} -> {answer})" if verbose else None
    if kind == CallEventKind.ENQUEUE:
        return f"  ENQUEUE in queue {event.queue!r} (at {event.at:g}s)"
    if kind == CallEventKind.QUEUE_WAIT:
        return f"  waiting in {event.queue!r}: position {event.position}, {event.seconds:g}s so far"
    if kind == CallEventKind.LEAVE:
        return f"  leaving queue {event.queue!r}"
    if kind == CallEventKind.QUEUE_RESULT:
        return f"  queue result: {event.result}"
    if kind == CallEventKind.HANGUP:
        return "  (the app hangs up)" if d.get("by") == "app" else None
    if kind == CallEventKind.REJECT:
        return f"  (call rejected: {event.result})"
    if kind == CallEventKind.UNSUPPORTED:
        return f"  (<{event.text}> {d.get('note', 'skipped')})"
    if kind == CallEventKind.STATUS_CALLBACK:
        answer = f"HTTP {event.status}" if event.status else "no answer"
        duration = f", CallDuration={event.seconds:g}s" if event.seconds is not None else ""
        line = f"  (status callback: CallStatus={event.result}{duration} -> {answer})"
        return line + (f"\n! warning: {d['warning']}" if d.get("warning") else "")
    if kind == CallEventKind.ERROR:
        line = f"  Twilio: {d.get('twilio_says', '')}"
        return line + (f"\n! {event.text}" if errors else "")
    return None


def transcript(record: CallRecord | Iterable[CallEvent], *, verbose: bool = False) -> str:
    """The whole call as text."""
    events = record.events if isinstance(record, CallRecord) else record
    lines = [line for e in events if (line := describe(e, verbose=verbose)) is not None]
    return "\n".join(lines)
