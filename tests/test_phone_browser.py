"""The softphone page end to end in a real headless Chromium (Debian's, driven by Playwright).

Skips when Chromium is missing; enable with ``apt-get install chromium`` (``.ci/run`` does).
Never ``playwright install``: no browser downloads.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, bilingual_menu, write_menu
from werkzeug.serving import make_server

from ivr import create_app

CHROMIUM = os.environ.get("IVR_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
PHONE_TOKEN = "browser-token-0123456789abcdef"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not Path(CHROMIUM).exists():
    pytest.skip(
        f"browser tests need Chromium at {CHROMIUM}: `apt-get install chromium` "
        "(or set IVR_CHROMIUM); never `playwright install`",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="pip install -e '.[test]' installs playwright"
)

# Stand-ins for the browser's voice and audio, recording what the page asked for; the real
# ones need sound hardware and the network (Twilio's hold music).
FAKE_SOUND = """
window.__spoken = [];
window.__played = [];
window.SpeechSynthesisUtterance = class { constructor(text) { this.text = text; this.voice = null; } };
Object.defineProperty(window, "speechSynthesis", { value: {
  speak(u) {
    window.__spoken.push({ text: u.text, lang: u.lang, voice: u.voice && u.voice.name });
    setTimeout(() => u.onend && u.onend(), 0);
  },
  cancel() {},
  getVoices() {
    return [{ lang: "en-US", name: "US" }, { lang: "en-GB", name: "British" },
            { lang: "cy_GB", name: "Welsh" }];
  },
}});
HTMLMediaElement.prototype.play = function () {
  window.__played.push(this.src);
  setTimeout(() => this.dispatchEvent(new Event("ended")), 0);
  return Promise.resolve();
};
"""  # noqa: E501


# Content-Security-Policy violations the page reports, kept for the test to read.
CSP_WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


@contextmanager
def serving(config: dict[str, Any]) -> Iterator[str]:
    """The app with its softphone on 127.0.0.1 (a free port), in a thread."""
    app = create_app(
        {**config, "IVR_PHONE": True, "IVR_PHONE_TOKEN": PHONE_TOKEN, "IVR_LOG_LEVEL": "WARNING"}
    )
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
        app.extensions["ivr_phone"].sessions.close()


@pytest.fixture
def server(config: dict[str, Any]) -> Iterator[str]:
    with serving(config) as url:
        yield url


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        errors: list[str] = []
        context.on("page", lambda page: page.on("pageerror", lambda exc: errors.append(str(exc))))
        context.add_init_script(CSP_WATCH)
        try:
            yield context
        finally:
            context.close()
        assert errors == [], "JavaScript errors on the page"


def test_the_page_refuses_access_without_its_token(server, browser):
    page = browser.new_page()
    assert page.goto(f"{server}/phone").status == 401
    sync_api.expect(page.get_by_label("The softphone's token")).to_be_focused()
    assert page.goto(f"{server}/phone?token=wrong-{PHONE_TOKEN}").status == 403
    assert page.goto(f"{server}/phone/static/phone.js").status == 401
    assert page.get_by_role("button", name="Call").count() == 0


def test_signing_in_with_the_form_keeps_the_token_out_of_every_url(server, browser):
    expect = sync_api.expect
    page = browser.new_page()
    page.add_init_script(FAKE_SOUND)
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    page.goto(f"{server}/phone")
    field = page.get_by_label("The softphone's token")
    field.fill(f"wrong-{PHONE_TOKEN}")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_have_text("That is not the softphone's token.")
    page.get_by_label("The softphone's token").fill(PHONE_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Call")).to_be_visible()
    assert page.url == f"{server}/phone"
    page.wait_for_load_state("load")  # the page's scripts have run
    page.get_by_role("button", name="Call").click()
    expect(page.locator("#node-main")).to_have_attribute("aria-current", "location")
    expect(page.locator("#diagram svg")).to_be_attached()
    assert urls and not [url for url in urls if "token" in url]
    assert page.evaluate("window.__csp") == []
    # The cookie is the browser's only credential, and JavaScript cannot read it.
    (cookie,) = browser.cookies()
    assert (cookie["name"], cookie["path"], cookie["httpOnly"]) == ("ivr_phone", "/phone", True)
    assert PHONE_TOKEN not in cookie["value"]
    assert page.evaluate("document.cookie") == ""


def test_menu_text_stays_text_in_the_picture(config, tmp_path, browser):
    """Mermaid draws labels as HTML: markup in the menu file must not become page elements."""
    expect = sync_api.expect
    data = bilingual_menu()
    data["nodes"]["queue"]["queue"] = '<img src=x onerror="window.__pwned=1"> & co'
    data["announcements"] = [{"name": "<b>bold</b> <a href=x>link</a>", "say": "Hello."}]
    data["announcements"][0]["say"] = {"en-GB": "Hello.", "cy-GB": "Helo."}
    with serving({**config, "IVR_MENU_FILE": str(write_menu(tmp_path, data))}) as url:
        page = browser.new_page()
        page.goto(f"{url}/phone?token={PHONE_TOKEN}")
        label = page.locator("#diagram svg g.node", has_text="queue: <img src=x")
        expect(label).to_have_count(1)
        expect(label).to_contain_text('queue: <img src=x onerror="window.__pwned=1"> & co')
        expect(
            page.locator("#diagram svg", has_text="<b>bold</b> <a href=x>link</a>")
        ).to_have_count(1)
        for tag in ("img", "b", "a"):
            assert page.locator(f"#diagram {tag}").count() == 0, tag
        assert page.evaluate("window.__pwned") is None
        assert page.evaluate("window.__csp") == []


def test_dial_the_business_crime_line_by_keyboard(server, browser):
    expect = sync_api.expect
    page = browser.new_page()
    page.add_init_script(FAKE_SOUND)
    response = page.goto(f"{server}/phone?token={PHONE_TOKEN}")
    assert response.status == 200
    assert page.url == f"{server}/phone"  # the token left the address bar for a cookie

    # Keyboard alone: focus Call, press Enter, then type the key.
    page.get_by_role("button", name="Call").focus()
    page.keyboard.press("Enter")
    # The main menu answers: the 999 warning, Welsh (9), then keys or speech.
    expect(page.locator("#status")).to_contain_text("Listening for keys or speech")
    expect(page.locator("#node-main")).to_have_attribute("aria-current", "location")
    expect(page.locator("#transcript")).to_contain_text("For the business crime line, press 2.")
    expect(page.locator("#transcript span[lang='en-GB']").first).to_be_visible()
    expect(page.locator("#transcript")).to_contain_text("Polly.Amy, en-GB")
    expect(page.get_by_role("button", name="Hang up")).to_be_focused()

    page.keyboard.press("2")
    queue = page.get_by_role("region", name="On hold")
    expect(queue).to_be_visible()
    expect(page.locator("#queue-info")).to_contain_text("Queue business-crime: position 3")
    expect(page.locator("#node-business_queue")).to_have_class("node kind-queue current")
    expect(page.locator("#node-business_hours")).to_have_class("node kind-hours visited")
    expect(page.locator("#where")).to_have_text("The caller is at business_queue.")
    # The Mermaid picture beside the phone, drawn in the page, outlines the same node.
    current = page.locator("#diagram svg g.node.current")
    expect(current).to_have_count(1)
    expect(current).to_have_attribute("id", re.compile(r"flowchart-n_business_queue-\d+$"))
    expect(page.locator("#diagram svg g.node.visited").first).to_be_attached()
    expect(page.get_by_role("button", name="Queue full")).to_be_enabled()
    expect(page.get_by_role("button", name="A handler answers")).to_be_focused()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "phone-business-crime.png"), full_page=True)

    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Keep holding")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#transcript")).to_contain_text("You are number 3 in the queue.")
    expect(page.get_by_role("button", name="Queue full")).to_be_disabled()

    page.get_by_role("button", name="Hang up").click()
    expect(page.locator("#outcome")).to_contain_text("enqueued in 'business-crime'")
    expect(page.get_by_role("button", name="Call")).to_be_enabled()
    expect(page.get_by_role("region", name="On hold")).to_be_hidden()

    spoken = page.evaluate("window.__spoken")
    texts = [s["text"] for s in spoken]
    assert "For the business crime line, press 2." in texts
    assert "You are number 3 in the queue." in texts
    # English throughout, but for the Welsh offer in the main menu.
    assert {(s["lang"], s["voice"]) for s in spoken} == {("en-GB", "British"), ("cy-GB", "Welsh")}
    assert [s["text"] for s in spoken if s["lang"] == "cy-GB"] == ["Am Gymraeg, pwyswch 9."]
    played = page.evaluate("window.__played")
    assert any(url.endswith(".mp3") for url in played), played
    # Mermaid, the page's script and its styles all run under the page's policy.
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.evaluate("window.__csp") == []


def test_keypad_clicks_speech_and_mute(server, browser):
    expect = sync_api.expect
    page = browser.new_page()
    page.add_init_script(FAKE_SOUND)
    page.goto(f"{server}/phone?token={PHONE_TOKEN}")
    page.get_by_label("Mute").check()
    page.get_by_role("button", name="Call").click()
    expect(page.locator("#status")).to_contain_text("Listening")
    expect(page.locator("#node-main")).to_have_attribute("aria-current", "location")
    page.get_by_label("What the caller says").fill("report a crime")
    page.get_by_role("button", name="Say it").click()
    expect(page.locator("#transcript")).to_contain_text("You: says 'report a crime'")
    expect(page.get_by_role("region", name="On hold")).to_be_visible()
    page.get_by_role("button", name="A handler answers").click()
    expect(page.locator("#outcome")).to_contain_text("QueueResult=bridged")
    assert page.evaluate("window.__spoken") == []  # muted: shown, never spoken
    # The call is offered as a call script to replay with `ivr test`.
    link = page.get_by_role("link", name="Download this call as a call script")
    expect(link).to_be_visible()
    with page.expect_download() as download:
        link.click()
    script = download.value.path().read_text(encoding="utf-8")
    assert "say: report a crime" in script and "queue: call-handlers" in script

    page.get_by_role("button", name="Call").click()
    expect(page.locator("#status")).to_contain_text("Listening")
    expect(page.locator("#node-main")).to_have_attribute("aria-current", "location")
    page.get_by_role("button", name="3", exact=True).click()
    expect(page.locator("#node-cyber")).to_have_attribute("aria-current", "location")
    page.get_by_role("button", name="Hang up").click()
    expect(page.locator("#outcome")).to_contain_text("the caller hung up")


def test_welsh_prompts_are_spoken_with_a_welsh_voice(config, tmp_path, browser):
    expect = sync_api.expect
    menu = write_menu(tmp_path, bilingual_menu())
    with serving({**config, "IVR_MENU_FILE": str(menu)}) as url:
        page = browser.new_page()
        page.add_init_script(FAKE_SOUND)
        page.goto(f"{url}/phone?token={PHONE_TOKEN}")
        page.get_by_role("button", name="Call").click()
        expect(page.locator("#status")).to_contain_text("Listening")
        page.keyboard.press("9")
        expect(page.locator("#transcript span[lang='cy-GB']").first).to_be_visible()
        expect(page.locator("#status")).to_contain_text("Listening for keys (1 digit)")
        expect(page.get_by_label("What the caller says")).to_be_disabled()
        page.get_by_role("button", name="Hang up").click()
        expect(page.locator("#outcome")).to_contain_text("the caller hung up")
        spoken = page.evaluate("window.__spoken")
        welsh = [s for s in spoken if s["lang"] == "cy-GB"]
        assert welsh, spoken
        assert {s["voice"] for s in welsh} == {"Welsh"}
