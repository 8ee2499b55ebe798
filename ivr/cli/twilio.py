"""``ivr twilio``: set up and check a Twilio number and its queues from the command line.

A thin layer over :mod:`ivr.account.provision`; settings come from :mod:`ivr.settings`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from .. import settings as settings_
from ..account.provision import TwilioAccount, client_from_settings
from ..errors import SetupError
from ..menu import load_menu
from . import IvrGroup
from .terminal import say

AccountFactory = Callable[[dict[str, Any]], TwilioAccount]


def _default_account(settings: dict[str, Any]) -> TwilioAccount:
    return TwilioAccount(client_from_settings(settings))


class _Context:
    """What every ``ivr twilio`` command needs, built lazily so ``--help`` needs no settings."""

    def __init__(self, account_factory: AccountFactory) -> None:
        self.settings = settings_.load()
        self._factory = account_factory
        self._account: TwilioAccount | None = None

    @property
    def account(self) -> TwilioAccount:
        if self._account is None:
            self._account = self._factory(self.settings)
        return self._account

    def base_url(self) -> str:
        base = self.settings.get("PUBLIC_BASE_URL", "")
        if not base:
            raise SetupError(
                "PUBLIC_BASE_URL",
                "not set: the https address Twilio reaches this app at, e.g. "
                "https://abcd.ngrok-free.app",
            )
        return base

    def queues(self, menu_file: str | None) -> dict[str, int]:
        path = menu_file or self.settings["IVR_MENU_FILE"]
        return load_menu(path).queues()


_menu_option = click.option(
    "--menu",
    "menu_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Menu file naming the queues (default: IVR_MENU_FILE, else menus.json).",
)


@click.group(cls=IvrGroup)
@click.pass_context
def twilio(ctx: click.Context) -> None:
    """Set up and check the Twilio number and queues that serve the menu.

    Credentials come from TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or TWILIO_API_KEY and
    TWILIO_API_SECRET), the app's address from PUBLIC_BASE_URL; a .env file is read too.
    """
    factory = (ctx.obj or {}).get("account_factory", _default_account)
    ctx.obj = _Context(factory)


@twilio.command()
@click.option(
    "--number", default=None, help="The Twilio number callers dial (default: TWILIO_PHONE_NUMBER)."
)
@click.option(
    "--handler-number",
    default=None,
    help="The staff number for the call-handler line, pointed at /handler "
    "(default: TWILIO_HANDLER_NUMBER; none: leave it alone).",
)
@click.option("--dry-run", is_flag=True, help="Show the changes as a diff; change nothing.")
@_menu_option
@click.pass_obj
def setup(
    obj: _Context,
    number: str | None,
    handler_number: str | None,
    dry_run: bool,
    menu_file: str | None,
) -> None:
    """Point the number's webhooks at PUBLIC_BASE_URL and create the menu's queues.

    Sets the voice URL (/voice), fallback URL (/fallback) and status callback (/status), all
    POST, and creates or resizes every queue in the menu. Running it again changes nothing.

    Example:

        ivr twilio setup --number "+44 20 7946 0101" --dry-run
    """
    number = number or obj.settings.get("TWILIO_PHONE_NUMBER")
    if not number:
        raise SetupError("--number", "name the Twilio number (or set TWILIO_PHONE_NUMBER)")
    queues = obj.queues(menu_file)
    base = obj.base_url()
    plans = [obj.account.plan_setup(number, base, queues)]
    handler_number = handler_number or obj.settings.get("TWILIO_HANDLER_NUMBER")
    if handler_number:
        plans.append(obj.account.plan_setup(handler_number, base, {}, handler_line=True))
    for plan in plans:
        say(plan.diff())
    changes = sum(len(plan.changes) for plan in plans)
    if not changes:
        return
    if dry_run:
        say(f"dry run: {changes} change(s) not made")
        return
    for plan in plans:
        obj.account.apply(plan)
    say(f"made {changes} change(s)")
    if base.startswith("http://"):
        say("warning: PUBLIC_BASE_URL is http; use https for real calls", err=True)


@twilio.command()
@click.option(
    "--number",
    default=None,
    help="The number to check (default: TWILIO_PHONE_NUMBER, else every number on the "
    "account whose voice URL is under PUBLIC_BASE_URL).",
)
@click.option(
    "--handler-number",
    default=None,
    help="Also check the call-handler line's number (default: TWILIO_HANDLER_NUMBER).",
)
@_menu_option
@click.pass_obj
def check(
    obj: _Context, number: str | None, handler_number: str | None, menu_file: str | None
) -> None:
    """Compare the number and queues with the menu, and send one signed test call.

    Flags a wrong or http voice URL, a missing fallback or status callback, and a missing or
    too small queue; then POSTs a Twilio-signed request to PUBLIC_BASE_URL/voice to prove the
    signature survives the tunnel or proxy. Exits 1 if anything is wrong.

    Example:

        ivr twilio check --number +442079460101
    """
    queues = obj.queues(menu_file)
    base = obj.base_url()
    number = number or obj.settings.get("TWILIO_PHONE_NUMBER")
    numbers = [number] if number else obj.account.numbers_pointing_at(base)
    if not numbers:
        raise SetupError(
            "--number", f"no number on the account has its voice URL under {base}; name one"
        )
    token = obj.settings.get("TWILIO_AUTH_TOKEN") or None
    findings = [f for n in numbers for f in obj.account.check(n, base, queues, token)]
    handler_number = handler_number or obj.settings.get("TWILIO_HANDLER_NUMBER")
    if handler_number:
        findings += obj.account.check(handler_number, base, {}, token, handler_line=True)
    errors = 0
    for finding in findings:
        errors += finding.level == "error"
        say(str(finding))
    if errors:
        say(f"{errors} problem(s); `ivr twilio setup` fixes the number and queues", err=True)
        raise click.exceptions.Exit(1)


@twilio.command()
@click.option("--all", "every", is_flag=True, help="Every queue on the account, not the menu's.")
@_menu_option
@click.pass_obj
def queues(obj: _Context, every: bool, menu_file: str | None) -> None:
    """Show how many callers wait in each queue and for how long on average.

    Example:

        ivr twilio queues
    """
    names = None if every else list(obj.queues(menu_file))
    rows = obj.account.queues(names)
    if not rows:
        say("no queues on the account")
        return
    width = max(len(q.name) for q in rows)
    say(f"{'queue':<{width}}  waiting  average wait  max size")
    for q in rows:
        if not q.exists:
            say(f"{q.name:<{width}}  (not created: run `ivr twilio setup`)")
            continue
        say(
            f"{q.name:<{width}}  {q.current_size:>7}  {_duration(q.average_wait):>12}  "
            f"{q.max_size:>8}"
        )


def _duration(seconds: int) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"
