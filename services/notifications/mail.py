"""The e-mail itself: multipart text + HTML, an optional .ics, and the headers that matter."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from services.notifications.domain.routing import CalendarMethod
from services.notifications.rendering import Rendered

ONE_CLICK = "List-Unsubscribe=One-Click"


@dataclass(frozen=True)
class Calendar:
    method: CalendarMethod
    content: bytes

    @property
    def filename(self) -> str:
        return "cancel.ics" if self.method is CalendarMethod.CANCEL else "invite.ics"


def compose(
    rendered: Rendered,
    *,
    sender: str,
    to_name: str,
    to_email: str,
    message_id: str,
    date: datetime,
    unsubscribe_url: str,
    calendar: Calendar | None = None,
) -> EmailMessage:
    """One e-mail, byte-identical whenever it is composed again from the same inputs.

    `Date` is the delivery's creation time and `Message-ID` comes from the delivery, so a
    retry after an ambiguous SMTP failure is recognisably the same message downstream.
    """
    message = EmailMessage()
    message["From"] = _address(sender)
    message["To"] = Address(display_name=display_name(to_name), addr_spec=to_email)
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    # RFC 8058: a POST to this URL with the body "List-Unsubscribe=One-Click" unsubscribes.
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = ONE_CLICK
    message.set_content(rendered.text, subtype="plain", cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
    if calendar is not None:
        message.add_attachment(
            calendar.content,
            maintype="text",
            subtype="calendar",
            filename=calendar.filename,
            params={"method": calendar.method.value, "charset": "utf-8"},
        )
    # After the body: setting content replaces every Content-* header.
    message["Content-Language"] = rendered.language
    return message


def display_name(name: str) -> str:
    """The name as a header can carry it: control characters (CR, LF, ...) become spaces.

    Names also arrive in events from other services, so the directory's own check on
    contact names is not enough: one odd name must not stop the e-mail from being written.
    """
    return "".join(" " if _is_control(c) else c for c in name)


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Zl", "Zp")


def _address(value: str) -> Address:
    name, addr = parseaddr(value)
    return Address(display_name=display_name(name), addr_spec=addr)
