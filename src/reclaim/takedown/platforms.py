"""The platform registry: where a takedown notice goes, what its route asks for, how fast it answers.

Each platform is a :class:`Platform` subclass listed in :data:`PLATFORMS` (in an explicit order) and
found by name in :data:`PLATFORMS_BY_NAME` (names unique, checked when the module loads). Most are built
from :data:`PLATFORM_TABLE`, a plain data table, by :func:`from_table`; a platform whose mapping needs
code subclasses :class:`Platform` directly (Telegram maps by chat type).

What is stated here comes from the platforms' own published removal routes (summarised in
docs/architecture.md, "Platforms"). Where a platform states nothing (a route's address, a response
time, the languages accepted) the value is ``None`` and is shown as
"not stated": reclaim does not invent deadlines or addresses. Only platforms with an e-mail route can be
sent to (``reclaim takedown send``); every other notice is a draft the user files by hand.

Minors. A person marked as a minor gets notices only to routes built for minors' images
(``for_minors=True``): NCMEC Take It Down, KCSC and ADSC (Korean public bodies with a mandate for
sexual images of children). StopNCII is for adults only; the platforms' own forms are not used for a
minor's case (Take It Down passes the hashes to participating platforms).
"""

from __future__ import annotations

import re
from abc import ABC
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from reclaim.errors import UserError
from reclaim.registry import by_name
from reclaim.store.models import Sighting

RouteKind = Literal["web_form", "email", "hash_submission", "in_app"]
NOT_STATED = "not stated"


@dataclass(frozen=True)
class Field:
    """One field a route asks for. ``source`` "case" is filled from the case; "user" is asked of the
    user (``--contact``, ``--to``): a draft lists the user fields still empty in ``to_complete``."""

    name: str
    required: bool = True
    source: Literal["case", "user"] = "case"


_URL_RE = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)


def sighting_urls(sighting: Sighting) -> list[str]:
    """Every web address a sighting carries: ``extra`` values (``url``, ``page_url``, ...), the source key
    and the path when they are URLs. In a stable order, without duplicates."""
    found: list[str] = []
    candidates: list[str] = []
    for key in sorted((sighting.extra or {}).keys()):
        value = (sighting.extra or {})[key]
        if isinstance(value, str):
            candidates.append(value)
        elif isinstance(value, list):
            candidates.extend(v for v in value if isinstance(v, str))
    candidates.extend(v for v in (sighting.source_key, sighting.path) if v)
    for text in candidates:
        for url in _URL_RE.findall(text):
            url = url.rstrip(".,;)")
            if url not in found:
                found.append(url)
    return found


def url_host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""


def host_matches(host: str, patterns: Iterable[str]) -> bool:
    """``pattern`` matches the host itself and its subdomains; a pattern ending in ``.*`` matches any
    top-level domain (``google.*`` → google.com, google.co.kr)."""
    for pattern in patterns:
        if pattern.endswith(".*"):
            base = pattern[:-2]
            if re.search(rf"(^|\.){re.escape(base)}\.[a-z]{{2,}}(\.[a-z]{{2,}})?$", host):
                return True
        elif host == pattern or host.endswith("." + pattern):
            return True
    return False


class Platform(ABC):
    """A place a takedown notice can go. Subclasses set the class attributes; :meth:`covers` says which
    sightings are "there" (default: a URL whose host matches :attr:`hosts`)."""

    name: ClassVar[str]
    title: ClassVar[str]
    route_kind: ClassVar[RouteKind]
    route: ClassVar[str | None] = None
    """The route's URL or e-mail address as the platform publishes it; None when not stated."""
    route_note: ClassVar[str] = ""
    response_hours: ClassVar[float | None] = None
    """The platform's stated time to act, in hours; None when not stated."""
    response_basis: ClassVar[str] = NOT_STATED
    languages: ClassVar[tuple[str, ...] | None] = None
    """Languages the route accepts (ISO 639-1); None when not stated (drafts are made in both)."""
    fields: ClassVar[tuple[Field, ...]]
    hosts: ClassVar[tuple[str, ...]] = ()
    scope: ClassVar[Literal["sightings", "case"]] = "sightings"
    """"sightings": covers the sightings found on it; "case": a body that takes any sighting of the case
    (KCSC, ADSC) or the images themselves (hash submission). Case-wide platforms are drafted only when
    named with ``--platform`` (or, for a minor, by default)."""
    for_minors: ClassVar[bool] = False
    adults_only: ClassVar[bool] = False
    escalation: ClassVar[str | None] = None
    """The route a notice goes to next when the material is still up past the stated time (a removal
    check drafts it, citing the notice): KCSC after a platform, ADSC after KCSC; None: no next route."""
    us_take_it_down: ClassVar[bool] = False
    """A US platform covered by the TAKE IT DOWN Act: its notices cite the Act (removal within 48 hours
    of a valid request, in force since 2026-05-19)."""

    @classmethod
    def covers(cls, sighting: Sighting) -> bool:
        if cls.scope == "case":
            return True
        return any(host_matches(url_host(u), cls.hosts) for u in sighting_urls(sighting))

    @classmethod
    def locations(cls, sighting: Sighting) -> list[str]:
        """The addresses of a covered sighting on this platform (all its URLs for case-wide routes)."""
        urls = sighting_urls(sighting)
        if cls.scope == "case" or not cls.hosts:
            return urls
        return [u for u in urls if host_matches(url_host(u), cls.hosts)]

    @classmethod
    def can_send(cls) -> bool:
        return cls.route_kind == "email"

    @classmethod
    def response_text(cls) -> str:
        if cls.response_hours is None:
            return NOT_STATED
        return f"{cls.response_hours:g} h ({cls.response_basis})"

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {
            "name": cls.name,
            "title": cls.title,
            "route_kind": cls.route_kind,
            "route": cls.route or NOT_STATED,
            "route_note": cls.route_note,
            "response_hours": cls.response_hours,
            "response": cls.response_text(),
            "languages": list(cls.languages) if cls.languages else NOT_STATED,
            "hosts": list(cls.hosts),
            "scope": cls.scope,
            "for_minors": cls.for_minors,
            "adults_only": cls.adults_only,
            "escalation": cls.escalation,
            "us_take_it_down": cls.us_take_it_down,
            "fields": [{"name": f.name, "required": f.required, "source": f.source} for f in cls.fields],
        }


# --- the data table -------------------------------------------------------------------------------------

_ID = ("reporter_name", "depicted_relation")
TAKE_IT_DOWN_IN_FORCE = "2026-05-19"
_TAKE_IT_DOWN: dict[str, Any] = {
    "response_hours": 48,
    "response_basis": "removal within 48 h of a valid request under the US Take It Down Act",
    "us_take_it_down": True,
    "escalation": "kcsc",
}
"""US platforms hosting user content (X, Meta, Reddit): the Act's 48 hours, in force since 2026-05-19."""
_PROOF = ("evidence_hash", "forensic_explanation")

PLATFORM_TABLE: list[dict[str, Any]] = [
    {
        "name": "x",
        "title": "X",
        "route_kind": "web_form",
        "route_note": "intimate media / synthetic content report",
        **_TAKE_IT_DOWN,
        "hosts": ("x.com", "twitter.com", "t.co", "twimg.com"),
        "fields": (
            *_ID,
            "content_locations",
            "content_kind",
            "good_faith_statement",
            *_PROOF,
            "signature",
            "user:contact",
        ),
    },
    {
        "name": "google",
        "title": "Google Search",
        "route_kind": "web_form",
        "route_note": "involuntary fake pornography removal (identifiable, fake, sexual, non-consensual)",
        "escalation": "kcsc",
        "hosts": ("google.*",),
        "fields": (
            *_ID,
            "content_locations",
            "optional:search_urls",
            "criteria_statement",
            *_PROOF,
            "user:contact",
        ),
    },
    {
        "name": "meta",
        "title": "Meta (Facebook, Instagram)",
        "route_kind": "web_form",
        **_TAKE_IT_DOWN,
        "hosts": (
            "facebook.com",
            "fb.com",
            "fb.watch",
            "instagram.com",
            "fbcdn.net",
            "cdninstagram.com",
            "threads.net",
        ),
        "fields": (*_ID, "content_locations", "content_kind", "description", *_PROOF, "user:contact"),
    },
    {
        "name": "reddit",
        "title": "Reddit",
        "route_kind": "web_form",
        **_TAKE_IT_DOWN,
        "hosts": ("reddit.com", "redd.it", "redditmedia.com"),
        "fields": (
            "depicted_relation",
            "content_locations",
            "content_kind",
            "description",
            *_PROOF,
            "user:contact",
        ),
    },
    {
        "name": "kcsc",
        "title": "KCSC (Korea Communications Standards Commission)",
        "route_kind": "web_form",
        "route_note": "e-review; victims and designated bodies may file",
        "response_hours": 24,
        "response_basis": "KCSC's e-review target",
        "languages": ("ko",),
        "scope": "case",
        "for_minors": True,
        "escalation": "adsc",
        "fields": (*_ID, "content_locations", "first_seen", "description", *_PROOF, "user:contact"),
    },
    {
        "name": "adsc",
        "title": "ADSC (Digital Sex Crime Victim Support Center)",
        "route_kind": "web_form",
        "route_note": "deletion support for victims",
        "languages": ("ko",),
        "scope": "case",
        "for_minors": True,
        "fields": (*_ID, "content_locations", "first_seen", "description", *_PROOF, "user:contact"),
    },
    {
        "name": "stopncii",
        "title": "StopNCII",
        "route_kind": "hash_submission",
        "route_note": "hash submission by the victim on their own device; adults only",
        "scope": "case",
        "adults_only": True,
        "fields": ("age_statement", "item_hashes", "description"),
    },
    {
        "name": "ncmec_take_it_down",
        "title": "NCMEC Take It Down",
        "route_kind": "hash_submission",
        "route_note": "hash submission for images taken under 18",
        "scope": "case",
        "for_minors": True,
        "fields": ("age_statement", "item_hashes", "description"),
    },
    {
        "name": "email",
        "title": "Generic e-mail (any host's abuse address)",
        "route_kind": "email",
        "route_note": "the address is given by the user (--to)",
        "scope": "case",
        "escalation": "kcsc",
        "fields": (
            "user:recipient",
            "subject",
            "content_locations",
            "description",
            *_PROOF,
            "signature",
            "user:contact",
        ),
    },
    {
        "name": "web_form",
        "title": "Generic web form (any host's report form)",
        "route_kind": "web_form",
        "route_note": "the host's own report form; fill it from the field values",
        "scope": "case",
        "escalation": "kcsc",
        "fields": ("content_locations", "content_kind", "description", *_PROOF, "user:contact"),
    },
]


def _field(spec: str) -> Field:
    if spec.startswith("user:"):
        return Field(spec[5:], required=True, source="user")
    if spec.startswith("optional:"):
        return Field(spec[9:], required=False)
    return Field(spec)


def from_table(row: dict[str, Any]) -> type[Platform]:
    """A Platform subclass from one row of :data:`PLATFORM_TABLE`."""
    attrs = {k: v for k, v in row.items() if k != "fields"}
    attrs["fields"] = tuple(_field(f) for f in row["fields"])
    if "response_hours" in attrs:
        attrs["response_hours"] = float(attrs["response_hours"])
    return type(f"{row['name'].title().replace('_', '')}Platform", (Platform,), attrs)


class TelegramPlatform(Platform):
    """Telegram: in-app report, for channels and public groups. A sighting is Telegram's when
    it came from a Telegram export in a channel or group, or carries a t.me link. Personal chats are not
    covered: Telegram's stated route is for channels and groups."""

    name = "telegram"
    title = "Telegram"
    route_kind = "in_app"
    route_note = "in-app report; channels and public groups"
    escalation = "kcsc"
    hosts = ("t.me", "telegram.me", "telegram.org")
    fields = (
        Field("content_locations"),
        Field("chat_name"),
        Field("content_kind"),
        Field("description"),
        Field("evidence_hash"),
        Field("forensic_explanation"),
    )

    @classmethod
    def covers(cls, sighting: Sighting) -> bool:
        if sighting.source == "telegram":
            kind = (sighting.chat_type or "").lower()
            return "channel" in kind or "group" in kind
        return super().covers(sighting)


# --- the registry ---------------------------------------------------------------------------------------

_TABLE = {row["name"]: from_table(row) for row in PLATFORM_TABLE}

PLATFORMS: tuple[type[Platform], ...] = (
    _TABLE["x"],
    _TABLE["google"],
    _TABLE["meta"],
    _TABLE["reddit"],
    TelegramPlatform,
    _TABLE["kcsc"],
    _TABLE["adsc"],
    _TABLE["stopncii"],
    _TABLE["ncmec_take_it_down"],
    _TABLE["email"],
    _TABLE["web_form"],
)
"""Every platform, in the order drafts and listings use."""


def platforms_by_name(platforms: Iterable[type[Platform]]) -> dict[str, type[Platform]]:
    """The platforms by name, checked: names unique (lowercase, digits and _), no field listed twice."""
    platforms = tuple(platforms)
    for cls in platforms:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", cls.name):
            raise ValueError(f"platform name {cls.name!r}: lowercase letters, digits and _ only")
        names = [f.name for f in cls.fields]
        if len(names) != len(set(names)):
            raise ValueError(f"platform {cls.name!r} lists a field twice")
    return by_name(platforms, what="platform")


PLATFORMS_BY_NAME = platforms_by_name(PLATFORMS)
if missing := [row["name"] for row in PLATFORM_TABLE if row["name"] not in PLATFORMS_BY_NAME]:
    raise RuntimeError(f"rows of PLATFORM_TABLE missing from PLATFORMS: {missing}")


def get_platform(name: str) -> type[Platform]:
    try:
        return PLATFORMS_BY_NAME[name]
    except KeyError:
        raise UserError(f"no platform {name!r}; known: {', '.join(sorted(PLATFORMS_BY_NAME))}") from None


def all_platforms() -> list[type[Platform]]:
    return list(PLATFORMS)
