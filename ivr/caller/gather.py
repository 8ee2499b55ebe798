"""The verbs that listen to the caller, <Gather> and <Record>, as Twilio runs them.

See https://www.twilio.com/docs/voice/twiml/gather and
https://www.twilio.com/docs/voice/twiml/record.

<Gather> plays its nested Say/Play/Pause while it listens. A caller who barges in (a key with
``barge_in``) stops them at the moment :mod:`ivr.caller.clock` gives, and what was not heard is
dropped from the record; the timeout then runs from that key. Speech is sent as
``SpeechResult`` after ``speechTimeout`` (by default the ``timeout``; ``auto`` is taken as one
second), with a ``partialResultCallback`` request per word while it is spoken.

<Record> records words said; the key that ends it, or ``hangup``, is sent as ``Digits``. A
hang-up still requests the action (its answer is ignored). ``recordingStatusCallback`` and
``transcribeCallback`` are requested after the action.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from urllib.parse import urljoin

from .clock import completes, endless, gather_timeout, nested, repetitions
from .control import CallOver, Fetch, QueueStay, new_sid
from .document import attribute, flag, method, whole
from .strategy import GatherPrompt, Input
from .trace import CallEventKind
from .webhook import timestamp

SPEECH_TIMEOUT_AUTO = 1.0  # Twilio ends "auto" at a pause in speech; it gives no figure
TRANSCRIPTION_LIMIT = 120  # Twilio transcribes recordings of up to two minutes
_HEARD = frozenset({CallEventKind.SAY, CallEventKind.PLAY, CallEventKind.PAUSE})
"""What a Gather's nested verbs put in the record, and a barge-in cuts short."""


class GatherVerbs:
    """<Gather> and <Record> for :class:`~ivr.caller.interpreter.Call` (a mixin)."""

    def _heard_input(self, choice: Input, **detail: object) -> None:
        self._emit(
            CallEventKind.INPUT,
            result=choice.kind,
            digits=choice.value if choice.kind == "dtmf" else None,
            speech=choice.value if choice.kind == "speech" else None,
            detail={"note": choice.value} if choice.kind == "hangup" and choice.value else detail,
        )

    def _ask(self, prompt: GatherPrompt) -> Input:
        choice = self.caller.on_gather(prompt)
        self._caller_acted()
        return choice

    def _verb_gather(self, el: ET.Element, url: str, queue: QueueStay | None) -> Fetch | None:
        inputs = tuple(attribute(el, "input").lower().split())
        num_digits = whole(el, "numDigits")
        timeout = gather_timeout(el)
        finish = attribute(el, "finishOnKey")
        action = urljoin(url, el.get("action")) if el.get("action") else url
        verb_method = method(el)
        on_empty = flag(el, "actionOnEmptyResult")
        start, first_event = self.clock, len(self.record.events)
        # Twilio repeats a loop="0" verb until the caller acts (or its cap of repetitions):
        # a caller who acts does so after its first time through and never hears what
        # follows it, so only the verbs up to it play before the caller is asked.
        children = list(nested(el))
        looped = next((i for i, child in enumerate(children) if endless(child)), len(children))
        for child in children[: looped + 1]:
            self._nested(child, url, queue)
        prompt = GatherPrompt(
            input=inputs,
            num_digits=num_digits,
            finish_on_key=finish,
            timeout=float(timeout),
            language=el.get("language"),
            hints=el.get("hints"),
            in_queue=queue is not None,
        )
        self._emit(
            CallEventKind.GATHER,
            url=action,
            method=verb_method,
            seconds=float(timeout),
            detail={
                "input": " ".join(inputs),
                "numDigits": num_digits,
                "finishOnKey": finish,
                "actionOnEmptyResult": on_empty,
            },
        )
        choice = self._ask(prompt)
        params: dict[str, str] = {}
        if choice.kind == "dtmf" and "dtmf" in inputs and choice.value:
            cut = None
            if choice.barge_in and attribute(el, "bargeIn").lower() != "false":
                cut = self._barge_in(el, start, first_event, choice.value[0])
            barged = {"barge_in": True, "unheard": cut} if cut is not None else {}
            self._heard_input(choice, **barged)
            keys = choice.value
            if finish and finish in keys:
                keys = keys[: keys.index(finish)]
            if num_digits:
                keys = keys[:num_digits]
            if keys:
                params["Digits"] = keys
            if not completes(el, choice.value):
                self._advance(timeout)  # the caller stopped pressing: Twilio waits it out
        elif choice.kind == "speech" and "speech" in inputs:
            self._heard_input(choice)
            self._speak_words(el, url, choice.value)
            params["SpeechResult"] = choice.value
            params["Confidence"] = f"{self.speech_confidence:.2f}"
        elif choice.kind == "hangup":
            self._heard_input(choice)
            raise CallOver("caller")
        else:
            # Nothing Twilio takes: the prompt plays on to its end, then the timeout.
            self._play_on(children[looped:], url, queue)
            self._heard_input(choice)
            self._advance(timeout)
        if not params and not on_empty:
            return None  # Twilio's fall-through: on to the next verb in this document
        return Fetch(action, verb_method, params)

    def _nested(self, verb: ET.Element, url: str, queue: QueueStay | None) -> None:
        """One verb nested in a Gather: heard (a loop="0" one, once through)."""
        getattr(self, f"_verb_{verb.tag.lower()}")(verb, url, queue, detail={"in": "Gather"})

    def _play_on(self, rest: list[ET.Element], url: str, queue: QueueStay | None) -> None:
        """A silent caller hears the prompt out: the loop="0" verb ``rest`` starts with up to
        Twilio's cap of repetitions, then the verbs after it, each stamped when it plays."""
        if not rest:
            return
        first, *after = rest
        self._advance(self.timing.once(first) * (repetitions(first) - 1))
        for verb in after:
            self._nested(verb, url, queue)
            if endless(verb):
                self._advance(self.timing.once(verb) * (repetitions(verb) - 1))

    def _barge_in(self, el: ET.Element, start: float, first_event: int, key: str) -> int | None:
        """Cut the nested prompt short at the moment the caller presses ``key``; drop what
        was not heard from the record. Returns how many nested verbs went unheard."""
        cut = start + self.timing.press_offset(el, key)
        if cut >= self.clock - 1e-9:
            return None  # the key was not offered before the end: nothing is cut
        events = self.record.events
        kept, dropped = events[:first_event], 0
        for event in events[first_event:]:
            if event.kind in _HEARD and event.at >= round(cut, 1) - 1e-9:
                dropped += 1
                continue
            kept.append(
                replace(event, at=round(cut, 1)) if event.kind == CallEventKind.GATHER else event
            )
        self.record.events[:] = kept
        self.clock = cut
        return dropped

    def _speak_words(self, el: ET.Element, url: str, words: str) -> None:
        """The caller speaks: partial results as each word is recognised, then Twilio's
        ``speechTimeout`` of silence."""
        callback = el.get("partialResultCallback")
        tokens = words.split()
        for i, word in enumerate(tokens, 1):
            self._advance(self.timing.speaking(word))
            if callback:
                params = {
                    "UnstableSpeechResult": " ".join(tokens[:i]),
                    "Stability": "0.9" if i == len(tokens) else "0.8",
                    "SequenceNumber": str(i),
                }
                target = urljoin(url, callback)
                self._notify(
                    Fetch(target, method(el, "partialResultCallbackMethod"), params),
                    "partial result callback",
                )
        raw = attribute(el, "speechTimeout").lower()
        if raw == "auto":
            self._advance(SPEECH_TIMEOUT_AUTO)
        else:
            self._advance(float(raw) if raw.isdigit() else gather_timeout(el))

    def _verb_record(self, el: ET.Element, url: str, queue: QueueStay | None) -> Fetch | None:
        action = urljoin(url, el.get("action")) if el.get("action") else url
        verb_method = method(el)
        timeout = whole(el, "timeout", 5) or 0
        finish = attribute(el, "finishOnKey")
        transcribe = flag(el, "transcribe") or bool(el.get("transcribeCallback"))
        # Twilio: maxLength defaults to an hour, or two minutes for a transcribed recording.
        max_length = whole(el, "maxLength") or (TRANSCRIPTION_LIMIT if transcribe else 3600)
        if transcribe and max_length > TRANSCRIPTION_LIMIT:
            self._warn(
                f"warning 13615: <Record maxLength={max_length}> is too long to transcribe "
                f"(at most {TRANSCRIPTION_LIMIT} s)",
                code=13615,
                element="Record",
            )
        self._emit(
            CallEventKind.RECORD,
            url=action,
            method=verb_method,
            seconds=float(max_length),
            detail={
                "finishOnKey": finish,
                "playBeep": flag(el, "playBeep"),
                "transcribe": transcribe,
            },
        )
        prompt = GatherPrompt(
            ("speech",), None, finish, float(timeout), record=True, in_queue=queue is not None
        )
        choice = self._ask(prompt)
        self._heard_input(choice)
        words = choice.value if choice.kind == "speech" else ""
        if not words.strip():
            # Twilio: an empty recording does not request the action; the document goes on.
            if choice.kind == "hangup":
                raise CallOver("caller")
            if choice.kind != "dtmf":
                self._advance(timeout)
            self._emit(CallEventKind.RECORDED, seconds=0.0, detail={"empty": True})
            return None
        spoken = self.timing.speaking(words)
        digits: str | None = None
        if spoken >= max_length:
            ended, taken = "maxLength", float(max_length)
        elif choice.then == "hangup":
            ended, taken, digits = "hangup", spoken, "hangup"
        elif choice.then and choice.then in finish:
            ended, taken, digits = "key", spoken, choice.then
        else:
            ended, taken = "silence", spoken + timeout
        duration = max(1, round(min(spoken, max_length)))
        self._advance(taken)
        sid = new_sid("RE")
        account = self.record.account_sid
        recording = f"https://api.twilio.com/2010-04-01/Accounts/{account}/Recordings/{sid}"
        self._emit(
            CallEventKind.RECORDED,
            url=recording,
            seconds=float(duration),
            speech=words,
            digits=digits,
            detail={"ended_by": ended},
        )
        params = {"RecordingUrl": recording, "RecordingDuration": str(duration)}
        params["RecordingSid"] = sid
        if digits:
            params["Digits"] = digits

        def callbacks() -> None:
            self._recording_callbacks(el, url, sid, recording, duration, words, transcribe)

        if digits == "hangup":
            # The caller is gone: Twilio still requests the action, and ignores its answer.
            self._status = "completed"
            self._notify(Fetch(action, verb_method, params), "Record action")
            callbacks()
            raise CallOver("caller")
        return Fetch(action, verb_method, params, then=callbacks)

    def _recording_callbacks(
        self,
        el: ET.Element,
        url: str,
        sid: str,
        recording: str,
        duration: int,
        words: str,
        transcribe: bool,
    ) -> None:
        """What Twilio requests once a recording is stored, and once it is transcribed."""
        status_url = el.get("recordingStatusCallback")
        if status_url:
            params = {
                "AccountSid": self.record.account_sid,
                "CallSid": self.record.call_sid,
                "RecordingSid": sid,
                "RecordingUrl": recording,
                "RecordingStatus": "completed",
                "RecordingDuration": str(duration),
                "RecordingChannels": "1",
                "RecordingStartTime": timestamp(),
                "RecordingSource": "RecordVerb",
                "ErrorCode": "0",
            }
            callback_method = method(el, "recordingStatusCallbackMethod")
            self._notify(
                Fetch(urljoin(url, status_url), callback_method, params),
                "recording status callback",
                standard=False,
            )
        transcribe_url = el.get("transcribeCallback")
        if transcribe and transcribe_url:
            transcription = new_sid("TR")
            account = self.record.account_sid
            params = {
                "TranscriptionSid": transcription,
                "TranscriptionText": words,
                "TranscriptionStatus": "completed" if duration <= TRANSCRIPTION_LIMIT else "failed",
                "TranscriptionUrl": (
                    f"https://api.twilio.com/2010-04-01/Accounts/{account}"
                    f"/Transcriptions/{transcription}"
                ),
                "RecordingSid": sid,
                "RecordingUrl": recording,
            }
            # Twilio always POSTs the transcription.
            self._notify(Fetch(urljoin(url, transcribe_url), "POST", params), "transcribe callback")
