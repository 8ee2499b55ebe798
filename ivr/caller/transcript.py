"""Turn call events into lines a person can read in a terminal."""

from __future__ import annotations

from collections.abc import Iterable

from .events import CallEvent, CallRecord


def _voice(event: CallEvent) -> str:
    parts = [event.voice or "default voice", event.language or "en-US"]
    return ", ".join(parts)


def describe(event: CallEvent, *, verbose: bool = False) -> str | None:
    """One line for an event, or None for events shown only when ``verbose``."""
    d = event.detail
    kind = event.kind
    if kind == "request":
        if not verbose:
            return None
        status = f" -> {event.status} {d.get('content_type', '')}" if event.status else ""
        return f"  . {event.method} {event.url}{status}"
    if kind == "say":
        loop = ""
        if event.loop == 0:
            loop = " (repeats)"
        elif event.loop and event.loop > 1:
            loop = f" (x{event.loop})"
        return f"  Twilio ({_voice(event)}): {event.text}{loop}"
    if kind == "play":
        if d.get("hold_music"):
            return "  [hold music]"
        if event.url is None:
            return f"  [tones {event.digits}]"
        return f"  [audio {event.url}]" + (" (repeats)" if event.loop == 0 else "")
    if kind == "pause":
        return f"  [pause {event.seconds:g}s]"
    if kind == "gather":
        what = " or ".join("keys" if i == "dtmf" else i for i in d.get("input", "dtmf").split())
        extra = f", {d['numDigits']} digit(s)" if d.get("numDigits") else ""
        return f"  ... listening for {what}{extra} (timeout {event.seconds:g}s)"
    if kind == "input":
        if event.result == "dtmf":
            return f"> caller presses {event.digits}"
        if event.result == "speech":
            return f"> caller says {event.speech!r}"
        if event.result == "silence":
            return "> caller stays silent"
        return "> caller hangs up" + (f" ({d['note']})" if d.get("note") else "")
    if kind == "redirect":
        return f"  -> redirect to {event.url}" if verbose else None
    if kind == "record":
        return "  ... recording (beep)" if d.get("playBeep") else "  ... recording"
    if kind == "recorded":
        if d.get("empty"):
            return "  [nothing recorded]"
        return f"  [recorded {event.seconds:g}s]"
    if kind == "dial":
        targets = ", ".join(f"{t['kind']} {t['value']}" for t in event.targets or [])
        return f"  DIAL {targets}"
    if kind == "dial-result":
        return f"  dial result: {event.result}"
    if kind == "enqueue":
        return f"  ENQUEUE in queue {event.queue!r}"
    if kind == "queue-wait":
        return f"  waiting in {event.queue!r}: position {event.position}, {event.seconds:g}s so far"
    if kind == "leave":
        return f"  leaving queue {event.queue!r}"
    if kind == "queue-result":
        return f"  queue result: {event.result}"
    if kind == "hangup":
        return "  (the app hangs up)" if d.get("by") == "app" else None
    if kind == "reject":
        return f"  (call rejected: {event.result})"
    if kind == "unsupported":
        return f"  (<{event.text}> {d.get('note', 'skipped')})"
    if kind == "status-callback":
        answer = f"HTTP {event.status}" if event.status else "no answer"
        line = (
            f"  (status callback: CallStatus={event.result}, "
            f"CallDuration={event.seconds:g}s -> {answer})"
        )
        return line + (f"\n! warning: {d['warning']}" if d.get("warning") else "")
    if kind == "error":
        return f"  Twilio: {d.get('twilio_says', '')}\n! {event.text}"
    return None


def transcript(record: CallRecord | Iterable[CallEvent], *, verbose: bool = False) -> str:
    """The whole call as text."""
    events = record.events if isinstance(record, CallRecord) else record
    lines = [line for e in events if (line := describe(e, verbose=verbose)) is not None]
    return "\n".join(lines)
