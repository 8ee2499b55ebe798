"""Twilio's own sample IVR (TwilioDevEd/ivr-phone-tree-python, "E.T. Phone Home"), served as
the TwiML documents it answers, dialled by a caller who listens and by one who knows the menu.

Its prompts offer several keys in one <Say>, repeated three times ("Please press 1 for
directions.Press 2 for a list of planets to call.", with no space after the full stop), and
"press the star key": the barge-in rule (ivr.caller.clock) must find them. Barge-in follows
https://www.twilio.com/docs/voice/twiml/gather ("After the first digit is received the audio
will stop playing").
"""

from __future__ import annotations

from twiml_probe import Received, TwimlApp, dial

from ivr.caller import Input

WELCOME_SAY = (
    "Thanks for calling the E T Phone Home Service. "
    "Please press 1 for directions.Press 2 for a list of planets to call."
)
PLANETS_SAY = (
    "To call the planet Broh doe As O G, press 2. To call the planet DuhGo bah, press 3. "
    "To call an oober asteroid to your location, press 4. "
    "To go back to the main menu  press the star key."
)
AMY = 'voice="Polly.Amy" language="en-GB"'


def seconds(text: str) -> float:
    return len(text.split()) * 0.4  # 150 words a minute


def welcome(_: Received) -> str:
    return (
        '<Gather numDigits="1" action="/ivr/menu" method="POST">'
        f'<Say loop="3">{WELCOME_SAY}</Say></Gather>'
    )


def menu(request: Received) -> str:
    digits = request.params.get("Digits")
    if digits == "1":
        return (
            f"<Say {AMY}>To get to your extraction point, get on your bike and go down the "
            "street. Then Left down an alley.</Say>"
            "<Say>Thank you for calling the E T Phone Home Service.</Say><Hangup/>"
        )
    if digits == "2":
        return (
            '<Gather numDigits="1" action="/ivr/planets" method="POST">'
            f'<Say {AMY} loop="3">{PLANETS_SAY}</Say></Gather>'
        )
    return back()


def planets(request: Received) -> str:
    numbers = {"2": "+19295566487", "3": "+17262043675", "4": "+16513582243"}
    number = numbers.get(request.params.get("Digits", ""))
    return f"<Dial>{number}</Dial>" if number else back()


def back() -> str:
    return f"<Say {AMY}>Returning to the main menu</Say><Redirect>/ivr/welcome</Redirect>"


def sample_ivr() -> TwimlApp:
    return TwimlApp({"/ivr/welcome": welcome, "/ivr/menu": menu, "/ivr/planets": planets})


def dial_time(record) -> float:
    return record.of_kind("dial")[0].at


def test_a_caller_who_knows_the_menu_barges_in_after_the_first_pass():
    listener_app = sample_ivr()
    listener = dial(listener_app, Input.press("2"), Input.press("2"), path="/ivr/welcome")
    app = sample_ivr()
    record = dial(app, Input.press("2"), Input.press("2"), path="/ivr/welcome", barge_in=True)
    for probe in (listener_app, app):
        assert probe.requests() == [
            ("POST", "/ivr/welcome"),
            ("POST", "/ivr/menu"),
            ("POST", "/ivr/planets"),
        ]
        assert [r.params.get("Digits") for r in probe.received] == [None, "2", "2"]
        assert all(r.signed for r in probe.received)
    assert record.outcome.dialled == listener.outcome.dialled == ("+19295566487",)
    # A listener hears each prompt three times (74.4 s, then a minute's call: the 135 s of
    # the issue); a caller who knows the menu cuts in during the first repetition.
    assert dial_time(listener) == round(3 * seconds(WELCOME_SAY) + 3 * seconds(PLANETS_SAY), 1)
    assert dial_time(record) == round(seconds(WELCOME_SAY) + seconds(PLANETS_SAY), 1)
    assert [e.detail.get("barge_in") for e in record.of_kind("input")] == [True, True]


def test_the_star_key_offered_as_the_star_key_goes_back_to_the_welcome():
    app = sample_ivr()
    record = dial(
        app,
        Input.press("2"),
        Input.press("*"),
        Input.press("1"),
        path="/ivr/welcome",
        barge_in=True,
    )
    assert app.requests() == [
        ("POST", "/ivr/welcome"),
        ("POST", "/ivr/menu"),
        ("POST", "/ivr/planets"),
        ("POST", "/ivr/welcome"),
        ("POST", "/ivr/menu"),
    ]
    assert app.received[2].params["Digits"] == "*"
    assert record.of_kind("say")[-1].text == "Thank you for calling the E T Phone Home Service."
