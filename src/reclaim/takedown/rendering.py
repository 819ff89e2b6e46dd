"""A notice's words: the values of its platform's fields in one language, and its text.

Pure functions of the case's rows (sightings, items, their forensic findings) and the platform; nothing is
written here. The wording itself is in :mod:`reclaim.takedown.templates`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from reclaim.forensics.service import STATEMENT_KO, item_findings, statements
from reclaim.lang import Lang
from reclaim.store.models import Item, Notice, Person, Sighting, utcnow
from reclaim.takedown.platforms import TAKE_IT_DOWN_IN_FORCE, Platform, get_platform, host_matches, url_host
from reclaim.takedown.templates import FOLLOW_UP, LABELS, RESPONSE_BASIS_KO, platform_title, t
from reclaim.text import clip, shown

MAX_NAME = 200
"""A chat name longer than this is cut in a notice (with its length said)."""


def posted_or_seen(s: Sighting) -> datetime:
    """When a sighting appeared: posted if known, else first seen (the order of a notice's sightings)."""
    return s.posted_at or s.first_seen_at


def _date(d: datetime) -> str:
    return d.strftime("%Y-%m-%d %H:%M UTC")


def _location_lines(platform: type[Platform], sightings: Sequence[Sighting], lang: Lang) -> list[str]:
    lines = []
    for s in sightings:
        when = t("posted", lang, when=_date(s.posted_at)) if s.posted_at else t("date_unknown", lang)
        locs = platform.locations(s)
        if s.source == "telegram" or not locs:
            locs = [_describe_sighting(s, lang), *locs]
        for loc in locs:
            lines.append(f"- {shown(loc)} ({when})")
    return lines


def _one_line(text: str | None) -> str:
    """Attacker-written text (a chat name, an id from an export) as one visible line in a notice: no line
    break, control character or bidi override of its own (:func:`reclaim.text.shown`), at most
    :data:`MAX_NAME` characters."""
    return clip(shown(text, default="?"), MAX_NAME) if text else "?"


def _describe_sighting(s: Sighting, lang: Lang) -> str:
    if s.source == "telegram":
        return (
            f"Telegram {t('chat', lang)} {_one_line(s.chat_name)} ({_one_line(s.chat_id)}), "
            f"{t('message', lang)} {s.message_id}"
        )
    return s.path or s.source_key  # shown() by the caller


def _forensic_lines(session: Session, items: Sequence[Item], lang: Lang) -> list[str]:
    lines = [t("forensic_intro", lang)]
    for item in items:
        found = statements([r for _, r in item_findings(session, item)])
        said = "; ".join(STATEMENT_KO.get(st.code, st.code) if lang == "ko" else st.text for st in found)
        lines.append(f"- {t('image', lang)} {item.sha256[:16]}: {said}")
    return lines


def field_values(
    session: Session,
    *,
    platform: type[Platform],
    person: Person,
    sightings: Sequence[Sighting],
    evidence_sha256: str | None,
    lang: Lang,
    name_visible: bool,
    contact: str | None,
    recipient: str | None,
) -> dict[str, str]:
    """The values of ``platform``'s fields (in its order) for a notice covering ``sightings``, in ``lang``.
    ``evidence_sha256`` is the manifest hash of the evidence package the notice cites (None: none yet)."""
    items: list[Item] = []
    for s in sightings:
        if s.item is not None and s.item not in items:
            items.append(s.item)
    first = min(posted_or_seen(s) for s in sightings)
    name = person.name if name_visible else t("pseudonym", lang, ref=person.id[:8])
    locations = _location_lines(platform, sightings, lang)
    search = [
        u
        for s in sightings
        for u in platform.locations(s)
        if host_matches(url_host(u), ("google.*",)) and "/search" in u
    ]
    chats = sorted(
        {f"{_one_line(s.chat_name)} ({_one_line(s.chat_id)})" for s in sightings if s.source == "telegram"}
    )
    values: dict[str, str] = {
        "reporter_name": name,
        "depicted_relation": t("relation", lang),
        "content_locations": "\n".join(locations),
        "search_urls": "\n".join(search),
        "chat_name": ", ".join(chats),
        "content_kind": t("content_kind", lang),
        "good_faith_statement": t("good_faith", lang),
        "criteria_statement": t("criteria", lang),
        "description": t(
            "description", lang, copies=len(sightings), images=len(items), first=_date(first)[:10]
        ),
        "first_seen": _date(first),
        "evidence_hash": (
            t("evidence_hash", lang, sha=evidence_sha256) if evidence_sha256 else t("no_evidence", lang)
        ),
        "forensic_explanation": "\n".join(_forensic_lines(session, items, lang)),
        "signature": f"{name}, {utcnow().date().isoformat()}",
        "contact": contact or "",
        "recipient": recipient or "",
        "subject": t("subject", lang, n=len(locations)),
        "age_statement": t("age_minor" if person.minor else "age_adult", lang),
        "item_hashes": "\n".join([t("hash_note", lang)] + [f"- {i.sha256}" for i in items]),
    }
    return {f.name: values[f.name] for f in platform.fields}


def render_text(
    platform: type[Platform], values: dict[str, str], lang: Lang, *, parent: Notice | None = None
) -> str:
    """The notice as text: greeting, intro, each field with its label, the stated response time."""
    hours = platform.response_hours
    if hours is None:
        response = t("not_stated", lang)
    else:
        basis = RESPONSE_BASIS_KO.get(platform.name, "") if lang == "ko" else platform.response_basis
        response = t("hours", lang, h=f"{hours:g}") + (f" ({basis})" if basis else "")
    parts = [t("greeting", lang, platform=platform_title(platform, lang)), "", t("intro", lang), ""]
    if parent is not None:
        parts += [_follow_up_line(parent, lang), ""]
        if parent.platform != platform.name and parent.status == "overdue" and parent.overdue_at:
            title = platform_title(get_platform(parent.platform), lang)
            parts += [t("escalation", lang, when=_date(parent.overdue_at), ref=parent.id, platform=title), ""]
    if platform.us_take_it_down:
        parts += [t("take_it_down", lang, since=TAKE_IT_DOWN_IN_FORCE), ""]
    for f in platform.fields:
        if f.name in ("recipient", "subject"):
            continue
        value = values.get(f.name) or (t("to_complete", lang) if f.required else "")
        if not value:
            continue
        label = LABELS[f.name][lang]
        parts.append(f"{label}:\n{value}" if "\n" in value else f"{label}: {value}")
    parts += ["", t("response", lang, value=response), "", t("closing", lang)]
    return "\n".join(parts) + "\n"


def _follow_up_line(parent: Notice, lang: Lang) -> str:
    """The sentence citing the earlier notice: its id, platform and the date it was sent (or drafted)."""
    title = platform_title(get_platform(parent.platform), lang)
    how = "sent" if parent.sent_at is not None else "drafted"
    when = parent.sent_at or parent.created_at
    return FOLLOW_UP[how][lang].format(ref=parent.id, platform=title, when=_date(when))
