"""Every error the ivr library raises, under one base, each carrying its context.

The tree (the CLI turns any of these into a message and an exit status in one place,
``ivr.cli.IvrGroup``; errors defined outside this module name their module)::

    IVRError
    ├── MenuError            a menu file that cannot be used; ``problems`` are located
    ├── ConfigError          a setting that makes the app unsafe or unusable
    ├── SetupError           a setting `ivr twilio` or the handler line needs
    ├── JourneyError         the journey log cannot do what was asked
    │   └── CallbackNotFound
    ├── TwilioError          Twilio's REST API refused or failed (``status``, ``code``)
    │   └── CredentialsMissing, BadCredentials, NumberNotFound, TwilioUnreachable
    ├── ApplicationError     the simulator: what Twilio would call an "application error"
    │   ├── HTTPStatusError (11200), TransportError (11205), ContentTypeError (12300)
    │   ├── HTTPRedirectError (11216), TooManyRedirectsError (11215), RedirectLoopError
    │   ├── TwiMLParseError (12100)
    │   └── TwiMLSchemaError (12200)
    │       └── TwiMLRootError (12102)
    ├── TransportFailure     a transport got no HTTP answer (becomes a TransportError)
    ├── LiveCallError        (ivr.caller.live) an action the live call is not waiting for
    ├── GraphError           (ivr.authoring.graph) Graphviz missing or failing
    ├── ScriptError          (ivr.scripts.loader) a call script that is not valid; located
    └── CallScriptFailed     (ivr.scripts.pytest_plugin) a scenario that did not go as scripted
"""

from __future__ import annotations

from dataclasses import dataclass


class IVRError(Exception):
    """Base of every error raised by the ivr package."""


@dataclass(frozen=True)
class Problem:
    """One located finding in a menu file: where it is and what is wrong."""

    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.path or "(top level)"
        if self.line is not None:
            where = f"{where} (line {self.line}" + (
                f", column {self.column})" if self.column is not None else ")"
            )
        return f"{where}: {self.message}"


class MenuError(IVRError):
    """A menu file that cannot be used; ``problems`` says where and why."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


class ConfigError(IVRError):
    """A setting that makes the app unsafe or unusable, e.g. the softphone without a token."""

    def __init__(self, setting: str, message: str) -> None:
        self.setting = setting
        super().__init__(f"{setting}: {message}")


class JourneyError(IVRError):
    """The journey log cannot do what was asked: a database fault, a bad setting or argument."""


class CallbackNotFound(JourneyError):
    """No callback request has the id (or id prefix) given."""

    def __init__(self, callback_id: str, matches: int = 0) -> None:
        self.callback_id = callback_id
        self.matches = matches
        why = "matches several callbacks" if matches > 1 else "matches no callback"
        super().__init__(f"{callback_id!r} {why}")


# --- The call simulator (ivr.caller): what Twilio would report as an "application error" ---


class ApplicationError(IVRError):
    """A webhook answer that Twilio's voice engine would refuse.

    Twilio says "an application error has occurred" to the caller and hangs up. ``code`` is
    the Twilio error code it would log in the debugger, where Twilio has one.
    """

    code: int | None = None
    EXCERPT = 300

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status: int | None = None,
        content_type: str | None = None,
        body: str = "",
    ) -> None:
        self.message = message
        self.url = url
        self.status = status
        self.content_type = content_type
        self.body = body
        super().__init__(self.describe())

    @property
    def excerpt(self) -> str:
        """The start of the response body, on one line."""
        flat = " ".join(self.body.split())
        return flat if len(flat) <= self.EXCERPT else flat[: self.EXCERPT] + "..."

    def describe(self) -> str:
        head = f"application error ({self.code}): " if self.code else "application error: "
        lines = [head + self.message, f"  url: {self.url}"]
        if self.status is not None:
            lines.append(f"  status: {self.status} {self.content_type or '(no content type)'}")
        if self.body:
            lines.append(f"  body: {self.excerpt}")
        return "\n".join(lines)


class HTTPStatusError(ApplicationError):
    """The webhook answered with an HTTP error status (Twilio 11200)."""

    code = 11200


class TransportError(ApplicationError):
    """The webhook could not be reached at all: connection refused, timeout (Twilio 11205)."""

    code = 11205


class ContentTypeError(ApplicationError):
    """The webhook answered with a content type Twilio cannot use (Twilio 12300)."""

    code = 12300


class TwiMLParseError(ApplicationError):
    """The document is not well-formed XML (Twilio 12100)."""

    code = 12100


class TwiMLSchemaError(ApplicationError):
    """Well-formed XML that is not valid TwiML: wrong root, unknown verb, bad nesting or
    attribute (Twilio 12200)."""

    code = 12200

    def __init__(self, message: str, *, url: str, element: str | None = None, **kw: object) -> None:
        self.element = element
        super().__init__(message, url=url, **kw)  # type: ignore[arg-type]


class TwiMLRootError(TwiMLSchemaError):
    """Well-formed XML whose root element is not <Response> (Twilio 12102)."""

    code = 12102


class HTTPRedirectError(ApplicationError):
    """A 3xx answer Twilio will not follow: not 301, 302, 303 or 307, or no Location (11216)."""

    code = 11216


class TooManyRedirectsError(ApplicationError):
    """HTTP redirects answered by more redirects, too many times in a row (Twilio 11215)."""

    code = 11215


class RedirectLoopError(ApplicationError):
    """Webhook requests in a row with no caller input and no simulated time passing: a loop
    Twilio would spin in until the call's time limit. A limit of the simulator, not Twilio's."""

    def __init__(self, message: str, *, url: str, urls: list[str]) -> None:
        self.urls = urls
        super().__init__(message, url=url)


class TransportFailure(IVRError):
    """A transport got no HTTP answer at all; the interpreter turns it into a TransportError
    (or a warning, for callbacks whose answer Twilio ignores)."""


# -- Twilio account errors (ivr.provision, ivr.handler) ----------------------------------------
# Raised by the code that talks to Twilio's REST API; the CLI turns them into one-line messages.


class TwilioError(IVRError):
    """Twilio's REST API refused or failed a request; ``status`` and ``code`` say how."""

    def __init__(self, message: str, status: int | None = None, code: int | None = None) -> None:
        self.status = status
        self.code = code
        super().__init__(message)


class CredentialsMissing(TwilioError):
    """No usable Twilio credentials in the settings."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(
            "no Twilio credentials: set " + " and ".join(missing) + " (in the environment or .env)"
        )


class BadCredentials(TwilioError):
    """Twilio rejected the account SID, auth token or API key (HTTP 401, error 20003)."""

    def __init__(self, account_sid: str, status: int | None = 401, code: int | None = 20003):
        self.account_sid = account_sid
        super().__init__(
            f"Twilio rejected the credentials for account {account_sid} (error {code}): check "
            "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or TWILIO_API_KEY and TWILIO_API_SECRET",
            status,
            code,
        )


class NumberNotFound(TwilioError):
    """The phone number is not one of the account's Twilio numbers."""

    def __init__(self, number: str, account_sid: str) -> None:
        self.number = number
        self.account_sid = account_sid
        super().__init__(
            f"{number} is not a phone number on Twilio account {account_sid} "
            "(see Phone Numbers > Active numbers in the console)",
            404,
        )


class TwilioUnreachable(TwilioError):
    """No network path to a URL (Twilio's API, or our own public URL)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"cannot reach {url}: {reason}")


class SetupError(IVRError):
    """A setting that ``ivr twilio`` needs is missing or unusable."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        self.problem = problem
        super().__init__(f"{setting}: {problem}")
