"""Phone numbers, parsed, formatted, masked and spoken in one place (libphonenumber).

Every number the menu dials, every caller ID we compare and every number we read back to a
caller goes through here, so "what counts as the same number" has one answer:

- :func:`to_e164` - a number an author or a caller typed, in any UK or international form,
  to E.164; raises ``ValueError`` unless it is a valid number.
- :func:`normalise` - the same without the validity check, for lists in settings.
- :func:`caller_id` - Twilio's ``From`` to E.164 only when it is a plain number: SIP URIs,
  ``client:`` identities, display names and extensions are not numbers we can trust.
- :func:`callback_number` - a number we may ring a caller back on: valid, UK, not premium rate.
- :func:`mask` - for logs and the journey log: country code and last three digits only.
- :func:`spoken` - a UK number read back the way a person says it, digit by digit.
"""

from __future__ import annotations

import re

import phonenumbers

REGION = "GB"
"""Numbers without a country code are UK numbers."""

_PUNCTUATION = re.compile(r"[\s()-]")
_DIGITS = re.compile(r"\d")
_PLAIN = re.compile(r"^\+[1-9]\d{6,14}$")


def to_e164(number: str, region: str = REGION) -> str:
    """Return ``number`` in E.164, or raise ValueError if it is not a valid phone number."""
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{number!r} is not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{number!r} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalise(number: str, region: str = REGION) -> str:
    """``number`` in E.164 without checking it is allocated (test and drama numbers pass);
    raises ValueError when it cannot be read as a number at all. For lists in settings."""
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{number!r} is not a phone number ({exc})") from None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def caller_id(value: str | None) -> str | None:
    """The E.164 number in Twilio's ``From``, or None unless it is exactly a plain number.

    Twilio sends ``+447700900001`` for a phone call; ``client:…``, ``sip:…``, ``tel:…``,
    ``Alice <+44…>`` or ``+44…;ext=1`` are other kinds of caller, however much they look like
    an allowed number, so they never compare equal to one.
    """
    if not value or not _PLAIN.match(value):
        return None
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return e164 if e164 == value else None


CALLBACK_EXAMPLE = "+442079460123"
"""A fictional London number (Ofcom's drama range) the callback offer accepts: generated call
scripts call from it to be offered a call back on their own number."""


def callback_number(number: str | None) -> str | None:
    """``number`` in E.164 if it is a valid UK number we can ring back, else None."""
    if not number:
        return None
    try:
        e164 = to_e164(number, REGION)
    except ValueError:
        return None
    parsed = phonenumbers.parse(e164)
    if parsed.country_code != 44:
        return None
    kind = phonenumbers.number_type(parsed)
    # Premium rate and shared-cost numbers are not for calling people back.
    if kind in (phonenumbers.PhoneNumberType.PREMIUM_RATE, phonenumbers.PhoneNumberType.UAN):
        return None
    return e164


def mask(number: str | None) -> str:
    """Mask a phone number for logs: keep the country code and the last three digits."""
    if not number:
        return ""
    if not number.startswith("+") or len(number) < 8:
        # client:alice, sip:..., anonymous: keep the scheme, hide the rest.
        head = number.split(":", 1)[0] + ":" if ":" in number else ""
        return head + "***" if head else "***"
    keep_head = 3  # "+44"
    middle = number[keep_head:-3]
    if middle.isdecimal():  # the usual E.164 number, without the regex: every call's first step
        return number[:keep_head] + "*" * len(middle) + number[-3:]
    return number[:keep_head] + _DIGITS.sub("*", middle) + number[-3:]


def compact(number: str) -> str:
    """``number`` without the spaces, brackets and dashes people write in it (what is hashed,
    so that one number written two ways is one caller)."""
    return _PUNCTUATION.sub("", number)


def spoken(number: str) -> str:
    """A UK number the way a person reads it back: ``0 7 9 1 1, 1 2 3 4 5 6``."""
    national = phonenumbers.format_number(
        phonenumbers.parse(number), phonenumbers.PhoneNumberFormat.NATIONAL
    )
    return ", ".join(" ".join(group) for group in national.split())


def last_digits(number: str, n: int = 3) -> str:
    """The last ``n`` digits, spaced for text-to-speech: ``1 2 3``."""
    return " ".join(number[-n:])


def country(number: str) -> str | None:
    """The ISO region of a number's country code (fictional numbers included), or None."""
    try:
        region = phonenumbers.region_code_for_country_code(
            phonenumbers.parse(number, None).country_code
        )
    except phonenumbers.NumberParseException:
        return None
    return region if region and region != "ZZ" else None
