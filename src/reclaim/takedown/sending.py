"""Sending a draft notice with an e-mail route through the SMTP server the user configured: the only
network call of :mod:`reclaim.takedown`. Nothing is sent automatically. A failure leaves the notice a draft
with the error recorded (custody event ``takedown.send_failed``); a success makes it "sent".
"""

from __future__ import annotations

import ipaddress
import json
import os
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Literal, cast, get_args

from sqlalchemy.orm import Session

from reclaim.errors import DependencyError, UserError
from reclaim.events import EventKind, log_event, subject
from reclaim.lang import LANGS
from reclaim.store.models import Notice, utcnow
from reclaim.takedown.platforms import get_platform
from reclaim.takedown.status import get_notice, set_status

SMTP_FILE = "smtp.json"
TlsMode = Literal["starttls", "ssl", "none"]


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TlsMode = "starttls"
    timeout: float = 30.0


def smtp_settings(workspace_root: Path | None = None, env: dict[str, str] | None = None) -> SmtpSettings:
    """SMTP settings from RECLAIM_SMTP_HOST / _PORT / _USER / _PASSWORD / _FROM / _TLS (starttls, ssl or
    none; default starttls), else from the workspace's smtp.json with the same keys in lower case
    (host, port, user, password, from, tls). Raises UserError when no server is configured."""
    env = dict(os.environ) if env is None else env
    conf: dict[str, Any] = {}
    if workspace_root is not None and (workspace_root / SMTP_FILE).is_file():
        try:
            conf = json.loads((workspace_root / SMTP_FILE).read_text(encoding="utf-8"))
        except ValueError as exc:
            raise UserError(f"{SMTP_FILE}: not valid JSON ({exc})") from None
        if not isinstance(conf, dict):
            raise UserError(f"{SMTP_FILE}: expected an object")
    for key in ("host", "port", "user", "password", "from", "tls"):
        value = env.get(f"RECLAIM_SMTP_{key.upper()}")
        if value:
            conf[key] = value
    if not conf.get("host") or not conf.get("from"):
        raise UserError(
            "no SMTP server configured: set RECLAIM_SMTP_HOST and RECLAIM_SMTP_FROM (and _PORT, _USER, "
            f"_PASSWORD, _TLS) or write {SMTP_FILE} in the workspace"
        )
    tls = str(conf.get("tls") or "starttls").lower()
    if tls not in get_args(TlsMode):
        raise UserError("SMTP tls must be starttls, ssl or none")
    try:
        port = int(conf.get("port") or (465 if tls == "ssl" else 587))
    except ValueError:
        raise UserError("SMTP port must be a number") from None
    return SmtpSettings(
        host=str(conf["host"]),
        port=port,
        sender=str(conf["from"]),
        user=conf.get("user") or None,
        password=conf.get("password") or None,
        tls=cast(TlsMode, tls),
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _message(notice: Notice, settings: SmtpSettings, recipient: str) -> EmailMessage:
    msg = EmailMessage()
    langs = [lg for lg in LANGS if lg in (notice.fields or {})]
    subject = next(
        (str(notice.fields[lg].get("subject")) for lg in langs if notice.fields[lg].get("subject")), ""
    )
    msg["Subject"] = subject or f"Removal request {notice.id}"
    msg["From"] = settings.sender
    msg["To"] = recipient
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(idstring=f"reclaim-{notice.id}")
    msg.set_content(notice.text)
    return msg


def deliver(settings: SmtpSettings, msg: EmailMessage) -> None:
    """Hand ``msg`` to the SMTP server (TLS as configured; never a password in clear to a remote host)."""
    if settings.user and settings.tls == "none" and not _is_loopback(settings.host):
        raise UserError("refusing to send an SMTP password without TLS to a remote server: set tls")
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.tls == "ssl":
        smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    with smtp:
        if settings.tls == "starttls":
            smtp.starttls(context=context)
        if settings.user:
            smtp.login(settings.user, settings.password or "")
        smtp.send_message(msg)


@dataclass(frozen=True)
class SendResult:
    notice: Notice
    sent: bool
    error: str | None
    message_id: str | None


def send_notice(
    session: Session, *, notice_id: str, settings: SmtpSettings, recipient: str | None = None
) -> SendResult:
    """Send a draft notice with an e-mail route through the configured SMTP server. On success the
    notice becomes "sent" (due time from the platform's stated time); on failure it stays a draft with the
    error recorded (``takedown.send_failed``). Commits either way."""
    notice = get_notice(session, notice_id)
    p = get_platform(notice.platform)
    if not p.can_send():
        raise UserError(
            f"{p.name} has no e-mail route ({p.route_kind}): file the notice by hand, then "
            f"'reclaim takedown mark {notice.id} --status sent'"
        )
    if notice.status != "draft":
        raise UserError(f"notice {notice.id} is {notice.status}, not a draft")
    to = recipient or notice.recipient
    if not to:
        raise UserError("no recipient: give --to ADDRESS")
    msg = _message(notice, settings, to)
    try:
        deliver(settings, msg)
    except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
        notice.error = f"{type(exc).__name__}: {exc}"
        notice.updated_at = utcnow()
        log_event(
            session,
            EventKind.TAKEDOWN_SEND_FAILED,
            subject=subject("notice", notice.id),
            detail={"notice_id": notice.id, "person_id": notice.person_id, "platform": p.name,
                    "error": notice.error},
        )  # fmt: skip
        session.commit()
        return SendResult(notice, False, notice.error, None)
    notice.recipient = to
    notice.error = None
    set_status(session, notice_id=notice.id, status="sent", reason="smtp")
    session.commit()
    return SendResult(notice, True, None, str(msg["Message-ID"]))


def send_failed(result: SendResult) -> DependencyError:
    return DependencyError(f"sending notice {result.notice.id} failed, it stays a draft: {result.error}")
