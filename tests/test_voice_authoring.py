"""The webhooks with the authoring features: the Welsh choice, opening hours and
announcements, each at a fixed time of day."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from conftest import MENU, Twilio, minimal_menu, said, verbs, write_menu

from ivr import create_app
from ivr.errors import ConfigError

UTC = dt.UTC
MONDAY_10AM_BST = dt.datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
MONDAY_7_30AM_GMT = dt.datetime(2026, 11, 30, 7, 30, tzinfo=UTC)
SATURDAY_NOON = dt.datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
CHRISTMAS_DAY = dt.datetime(2026, 12, 25, 10, 0, tzinfo=UTC)


def app_at(config: dict[str, Any], when: dt.datetime, menu: Path = MENU) -> Twilio:
    app = create_app(config | {"IVR_MENU_FILE": str(menu), "IVR_NOW": when})
    return Twilio(app.test_client())


def says(root: ET.Element) -> list[tuple[str, str, str]]:
    """(text, voice, language) of every <Say>, in order."""
    return [(el.text or "", el.get("voice", ""), el.get("language", "")) for el in root.iter("Say")]


# -- the Welsh choice -------------------------------------------------------------------------


WELSH_999 = "Mewn argyfwng, rhowch y ffôn i lawr a deialwch 999."


def test_a_call_starts_with_the_999_warning_and_welsh_one_key_away(config) -> None:
    root = app_at(config, MONDAY_10AM_BST).twiml("/voice")
    assert verbs(root) == ["Gather", "Redirect"]
    gather = root.find("Gather")
    assert gather.get("action") == "/menu/main?attempt=1"
    assert says(root)[:3] == [  # the 999 warning first; Welsh offered in Welsh, before English
        (
            "Staffordshire Police. If someone is in danger or a crime is happening now, "
            "hang up and dial 999.",
            "Polly.Amy",
            "en-GB",
        ),
        ("Am Gymraeg, pwyswch 9.", "Polly.Gwyneth", "cy-GB"),
        ("To report a crime or incident, press 1.", "Polly.Amy", "en-GB"),
    ]


def test_pressing_9_carries_on_in_welsh(config) -> None:
    twilio = app_at(config, MONDAY_10AM_BST)
    root = twilio.twiml("/menu/main?attempt=1", Digits="9")
    assert verbs(root) == ["Gather", "Redirect"]
    assert root.find("Gather").get("action") == "/menu/main?attempt=1&lang=cy-GB"
    # The 999 warning again, in Welsh this time, then the Welsh menu.
    assert says(root)[0] == (WELSH_999, "Polly.Gwyneth", "cy-GB")


def test_the_welsh_main_menu_is_keys_only_and_in_welsh(config) -> None:
    root = app_at(config, MONDAY_10AM_BST).twiml("/node/main?lang=cy-GB")
    gather = root.find("Gather")
    assert gather.get("input") == "dtmf"
    assert gather.get("language") is None and gather.get("hints") is None
    assert gather.get("action") == "/menu/main?attempt=1&lang=cy-GB"
    texts = [t for t, _, _ in says(root)]
    assert texts[0] == WELSH_999
    # Welsh is not offered again to a caller who chose it: the options come straight after.
    assert texts[1] == "I roi gwybod am drosedd neu ddigwyddiad, pwyswch 1."
    assert texts[-1] == "I glywed y dewisiadau hyn eto, pwyswch seren."
    assert {(v, lang) for _, v, lang in says(root)} == {("Polly.Gwyneth", "cy-GB")}


def test_the_english_main_menu_still_offers_speech(config) -> None:
    root = app_at(config, MONDAY_10AM_BST).twiml("/node/main")
    gather = root.find("Gather")
    assert gather.get("input") == "dtmf speech"
    assert gather.get("language") == "en-GB"


def test_a_silent_welsh_caller_stays_in_welsh(config) -> None:
    root = app_at(config, MONDAY_10AM_BST).twiml("/menu/main?attempt=1&lang=cy-GB")
    texts = [t for t, _, _ in says(root)]
    assert texts[:2] == ["Mae'n ddrwg gennym, ni chlywsom ddewis.", WELSH_999]
    assert root.find("Gather").get("action") == "/menu/main?attempt=2&lang=cy-GB"


def test_welsh_queue_messages(config) -> None:
    twilio = app_at(config, MONDAY_10AM_BST)
    root = twilio.twiml("/node/crime_queue?lang=cy-GB")
    assert says(root)[0][0].startswith("Yn eich cysylltu â thriniwr galwadau.")
    enqueue = root.find("Enqueue")
    assert enqueue.get("waitUrl") == "/queue/crime_queue/wait?cycle=0&lang=cy-GB"
    root = twilio.twiml(
        "/queue/crime_queue/wait?cycle=1&lang=cy-GB", QueuePosition="3", AvgQueueTime="400"
    )
    assert [t for t, _, _ in says(root)] == [
        "Rydych chi'n rhif 3 yn y ciw.",
        "Mae disgwyl i chi aros tua 7 o funudau.",
        "Gallwch hefyd roi gwybod am lawer o droseddau ar-lein unrhyw bryd, ar ein gwefan.",
        "Os daw eich sefyllfa yn argyfwng, rhowch y ffôn i lawr a deialwch 999.",
    ]
    assert {v for _, v, _ in says(root)} == {"Polly.Gwyneth"}


# -- the business crime line, through an hours node ---------------------------------------------


def test_option_2_goes_to_the_hours_node_which_is_decided_at_call_time(config) -> None:
    root = app_at(config, MONDAY_10AM_BST).twiml("/menu/main?attempt=1", Digits="2")
    assert verbs(root) == ["Redirect"]
    assert root.find("Redirect").text == "/node/business_hours"


@pytest.mark.parametrize(
    ("when", "first_words", "verb"),
    [
        (MONDAY_10AM_BST, "Connecting you to the business crime line.", "Enqueue"),
        (MONDAY_7_30AM_GMT, "The business crime line is open 8am to 6pm", "Redirect"),
        (SATURDAY_NOON, "The business crime line is open 8am to 6pm", "Redirect"),
    ],
)
def test_the_business_line_by_the_clock(config, when, first_words: str, verb: str) -> None:
    root = app_at(config, when).twiml("/node/business_hours")
    assert says(root)[0][0].startswith(first_words)
    if verb == "Enqueue":  # open: straight into the business crime queue
        assert root.find("Enqueue").text == "business-crime"
    else:  # closed: on to the general queue
        assert root.find("Redirect").text == "/node/general_queue"


def test_a_bank_holiday_says_its_own_message_then_the_closed_message(config) -> None:
    root = app_at(config, CHRISTMAS_DAY).twiml("/node/business_hours?lang=cy-GB")
    texts = [t for t, _, _ in says(root)]
    assert texts == [
        "Mae'r llinell droseddau busnes ar gau heddiw ar gyfer Dydd Nadolig.",
        "Mae'r llinell droseddau busnes ar agor rhwng 8 y bore a 6 yr hwyr, o ddydd Llun i "
        "ddydd Gwener. Gall triniwr galwadau ar ein llinell gyffredinol gymryd eich adroddiad.",
    ]
    assert root.find("Redirect").text == "/node/general_queue?lang=cy-GB"


def test_an_hours_node_as_the_start(config, tmp_path: Path) -> None:
    data = minimal_menu(
        hours={
            "kind": "hours",
            "weekly": {"mon": ["09:00-17:00"]},
            "closures": [{"date": "2026-12-28", "say": "Closed for the bank holiday."}],
            "open": "main",
            "closed": "bye",
        }
    )
    data["start"] = "hours"
    menu = write_menu(tmp_path, data)
    assert verbs(app_at(config, MONDAY_10AM_BST, menu).twiml("/voice")) == ["Redirect"]
    root = app_at(config, MONDAY_10AM_BST, menu).twiml("/node/hours")
    assert root.find("Gather") is not None
    root = app_at(config, dt.datetime(2026, 12, 28, 10, tzinfo=UTC), menu).twiml("/node/hours")
    assert said(root) == "Closed for the bank holiday.\nGoodbye."
    assert verbs(root) == ["Say", "Say", "Hangup"]


# -- announcements ------------------------------------------------------------------------------


def with_announcement(tmp_path: Path, **changes: Any) -> Path:
    data = json.loads(MENU.read_text(encoding="utf-8"))
    data["announcements"][0].update(changes)
    return write_menu(tmp_path, data)


def test_the_shipped_announcement_is_off(config) -> None:
    root = app_at(config, dt.datetime(2026, 11, 29, 12, tzinfo=UTC)).twiml("/voice")
    assert "A34" not in said(root)


ENGLISH_999 = (
    "Staffordshire Police. If someone is in danger or a crime is happening now, hang up and "
    "dial 999."
)


def test_an_announcement_follows_the_999_warning_in_both_languages_and_listens_for_its_key(
    config, tmp_path: Path
) -> None:
    """Issue 14: the 999 warning stays first, announcement or not."""
    menu = with_announcement(tmp_path, enabled=True)
    root = app_at(config, dt.datetime(2026, 11, 29, 12, tzinfo=UTC), menu).twiml("/voice")
    assert verbs(root) == ["Gather", "Gather", "Redirect"]
    first = root.find("Gather")
    assert first.get("action") == "/announcement"
    assert first.get("input") == "dtmf" and first.get("numDigits") == "1"
    assert [(t[:40], v) for t, v, _ in says(first)] == [
        (ENGLISH_999[:40], "Polly.Amy"),
        ("If you are calling about the road closur", "Polly.Amy"),
        ("Os ydych chi'n ffonio am gau'r ffordd ar", "Polly.Gwyneth"),
    ]
    # Then the main menu's options, as on any call; the warning is not said twice.
    menu_gather = root.findall("Gather")[1]
    assert menu_gather.get("action") == "/menu/main?attempt=1"
    assert [t for t, _, _ in says(menu_gather)][0] == "Am Gymraeg, pwyswch 9."
    assert said(root).count("999") == 1


def test_the_start_with_announcements_is_rendered_once_per_set_and_language(tmp_path) -> None:
    """During an incident every call starts with it: built once, then looked up."""
    from ivr.menu import load_menu, routing
    from ivr.twiml import Renderer, UrlRoutes

    menu = load_menu(with_announcement(tmp_path, enabled=True))
    renderer = Renderer(menu, UrlRoutes(menu.defaults.language))
    active = routing.active_announcements(menu, dt.datetime(2026, 11, 29, 12, tzinfo=UTC))
    assert active
    first = renderer.announcements(active, "en-GB")
    assert renderer.announcements(list(active), "en-GB") is first
    assert renderer.announcements(active, "cy-GB") is not first
    assert renderer.announcements([], "en-GB") != first  # another set, another document


def test_an_announcement_without_a_key_is_said_in_the_menu_after_the_999_warning(
    config, tmp_path: Path
) -> None:
    data = json.loads(MENU.read_text(encoding="utf-8"))
    data["announcements"][1]["enabled"] = True  # "Our options have changed", no key
    menu = write_menu(tmp_path, data)
    root = app_at(config, dt.datetime(2026, 11, 29, 12, tzinfo=UTC), menu).twiml("/voice")
    assert verbs(root) == ["Gather", "Redirect"]
    gather = root.find("Gather")
    assert gather.get("action") == "/menu/main?attempt=1"  # keys work throughout
    texts = [t for t, _, _ in says(gather)]
    assert texts[:4] == [
        ENGLISH_999,
        "Our options have changed, so please listen carefully.",
        "Mae ein dewisiadau wedi newid, felly gwrandewch yn ofalus.",
        "Am Gymraeg, pwyswch 9.",
    ]


def test_pressing_the_announcement_key_goes_to_its_node(config, tmp_path: Path) -> None:
    menu = with_announcement(tmp_path, enabled=True)
    twilio = app_at(config, dt.datetime(2026, 11, 29, 12, tzinfo=UTC), menu)
    root = twilio.twiml("/announcement", Digits="5")
    assert said(root).startswith("The A34 is closed at Stone")
    assert root.find("Redirect").text == "/node/crime_queue"
    # Any other key: the start of the menu.
    root = twilio.twiml("/announcement", Digits="7")
    assert root.find("Gather").get("action") == "/menu/main?attempt=1"
    # A key of the start menu, pressed ahead: taken as the answer to it (9: Welsh).
    root = twilio.twiml("/announcement", Digits="9")
    assert says(root)[0][0] == WELSH_999


@pytest.mark.parametrize(
    "when",
    [dt.datetime(2026, 11, 29, 7, 59, tzinfo=UTC), dt.datetime(2026, 11, 30, 20, 0, tzinfo=UTC)],
)
def test_an_announcement_outside_its_window_is_silent(config, tmp_path: Path, when) -> None:
    menu = with_announcement(tmp_path, enabled=True)
    twilio = app_at(config, when, menu)
    assert "A34" not in said(twilio.twiml("/voice"))
    # A late key press from a call that heard it just before the end: the start, not an error.
    assert twilio.twiml("/announcement", Digits="5").find("Gather") is not None


# -- trying a menu out at another time ------------------------------------------------------------


def test_ivr_now_fixes_the_clock_in_uk_local_time(config, monkeypatch) -> None:
    del config["IVR_NOW"]  # the tests' own fixed clock
    monkeypatch.setenv("IVR_NOW", "2026-12-25T10:00")
    app = create_app(config)
    assert app.extensions["ivr"].clock() == dt.datetime(2026, 12, 25, 10, tzinfo=UTC)
    root = Twilio(app.test_client()).twiml("/node/business_hours")
    assert says(root)[0][0] == "The business crime line is closed today for Christmas Day."
    monkeypatch.setenv("IVR_NOW", "2026-07-01T09:00")  # BST
    assert create_app(config).extensions["ivr"].clock() == dt.datetime(2026, 7, 1, 8, tzinfo=UTC)


def test_ivr_now_must_be_a_moment(config, monkeypatch) -> None:
    monkeypatch.setenv("IVR_NOW", "Christmas")
    with pytest.raises(ConfigError, match="IVR_NOW: must be a date and time"):
        create_app(config)
