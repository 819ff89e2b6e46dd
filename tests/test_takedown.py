"""Takedown notices: the platform registry, drafts per platform in both languages, sending through a local
SMTP server (aiosmtpd on 127.0.0.1), status tracking with a frozen clock, statistics, the CLI contract.
Runs on a real SQLite workspace holding the scanned sample export plus web sightings on X, Reddit,
Instagram and Google Search (built once, copied per test)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from reclaim.cli import app
from reclaim.demo import build_sample_export
from reclaim.errors import UserError
from reclaim.persons.service import add_person
from reclaim.review import review_match
from reclaim.scan.service import scan_paths
from reclaim.store.models import Event, Item, Match, Notice, Person, Sighting
from reclaim.takedown.drafting import draft_notices
from reclaim.takedown.platforms import (
    NOT_STATED,
    PLATFORMS,
    Field,
    Platform,
    all_platforms,
    get_platform,
    platforms_by_name,
)
from reclaim.takedown.sending import SmtpSettings, send_notice, smtp_settings
from reclaim.takedown.status import missing_fields, platform_stats, refresh_overdue, set_status
from reclaim.takedown.templates import LABELS, TEXT
from reclaim.workspace import Workspace

from .conftest import PASSPHRASE

runner = CliRunner()
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
CONTACT = "advocate@support.example"
WEB = {
    "x": "https://x.com/someone/status/1860000000000000001/photo/1",
    "reddit": "https://www.reddit.com/r/somewhere/comments/abc123/post/",
    "meta": "https://www.instagram.com/p/Cxyz123/",
    "google": "https://www.google.com/search?q=client+07&tbm=isch",
}

# The fields each route asks for (the bar: "a test asserts the field list per platform").
FIELDS = {
    "x": ["reporter_name", "depicted_relation", "content_locations", "content_kind", "good_faith_statement",
          "evidence_hash", "forensic_explanation", "signature", "contact"],
    "google": ["reporter_name", "depicted_relation", "content_locations", "search_urls", "criteria_statement",
               "evidence_hash", "forensic_explanation", "contact"],
    "meta": ["reporter_name", "depicted_relation", "content_locations", "content_kind", "description",
             "evidence_hash", "forensic_explanation", "contact"],
    "reddit": ["depicted_relation", "content_locations", "content_kind", "description", "evidence_hash",
               "forensic_explanation", "contact"],
    "telegram": ["content_locations", "chat_name", "content_kind", "description", "evidence_hash",
                 "forensic_explanation"],
    "kcsc": ["reporter_name", "depicted_relation", "content_locations", "first_seen", "description",
             "evidence_hash", "forensic_explanation", "contact"],
    "adsc": ["reporter_name", "depicted_relation", "content_locations", "first_seen", "description",
             "evidence_hash", "forensic_explanation", "contact"],
    "stopncii": ["age_statement", "item_hashes", "description"],
    "ncmec_take_it_down": ["age_statement", "item_hashes", "description"],
    "email": ["recipient", "subject", "content_locations", "description", "evidence_hash",
              "forensic_explanation", "signature", "contact"],
    "web_form": ["content_locations", "content_kind", "description", "evidence_hash", "forensic_explanation",
                 "contact"],
}  # fmt: skip
SIGHTING_PLATFORMS = {"telegram", "x", "google", "meta", "reddit"}


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with one person, the sample export scanned, every match confirmed, and web sightings of
    the confirmed items on X, Reddit, Instagram and Google Search."""
    base = tmp_path_factory.mktemp("takedown")
    sample = build_sample_export(base / "ChatExport")
    ws = Workspace.create(base / "ws", PASSPHRASE)
    try:
        with ws.session() as s:
            add_person(s, ws.key, name="Client 07", photos=sample.enrol_photos,
                       known_images=[sample.known_image], consent="test consent")  # fmt: skip
        scan_paths(ws, [sample.root], workers=1)
        with ws.session() as s:
            ids = list(s.scalars(select(Match.id).order_by(Match.id)))
        for mid in ids:
            with ws.session() as s:
                review_match(s, match_id=mid, decision="confirmed")
        with ws.session() as s:
            items = list(s.scalars(select(Item).join(Match, Match.item_id == Item.id).order_by(Item.id)))
            for n, (name, url) in enumerate(WEB.items()):
                item = items[n % len(items)]
                key = f"web|{url}"
                s.add(
                    Sighting(
                        dedupe_key=hashlib.sha256(f"{key}|{item.sha256}".encode()).hexdigest(),
                        item_id=item.id,
                        source="web",
                        source_key=key,
                        path=None,
                        posted_at=T0 - timedelta(days=3 - n),
                        extra={"url": url, "captured_for": name},
                    )
                )
            s.commit()
    finally:
        ws.close()
    return base / "ws"


@pytest.fixture
def ws_dir(case_dir: Path, cli_env: Path) -> Path:
    shutil.copytree(case_dir, cli_env)
    return cli_env


@pytest.fixture
def ws(ws_dir: Path) -> Iterator[Workspace]:
    w = Workspace.open(ws_dir, PASSPHRASE)
    try:
        yield w
    finally:
        w.close()


def person_id(ws: Workspace) -> str:
    with ws.session() as s:
        pid = s.scalar(select(Person.id))
        assert pid is not None
        return pid


def draft(ws: Workspace, **kw: Any) -> list[str]:
    with ws.session() as s:
        r = draft_notices(s, person_id=person_id(ws), **kw)
        s.commit()
        return [n.id for n in r.notices]


def kinds(ws: Workspace, prefix: str = "takedown.") -> list[str]:
    with ws.session() as s:
        return [e.kind for e in s.scalars(select(Event).order_by(Event.id)) if e.kind.startswith(prefix)]


_ALLOWED_LATIN = {
    "Telegram",
    "Room",
    "UTC",
    "SHA",
    "Case",
    "AI",
    "C2PA",
    "Google",
    "Meta",
    "Facebook",
    "Instagram",
    "Reddit",
    "Take",
    "It",
    "Down",
    "Act",
    "StopNCII",
    "NCMEC",
    "KCSC",
    "ADSC",
}


def english_leftovers(text: str) -> set[str]:
    """Latin words of a Korean text that are not URLs, hashes, ids, dates or proper names."""
    text = re.sub(r"https?://\S+|\S+@\S+", " ", text)
    text = re.sub(r"(?<![0-9A-Za-z])[0-9a-f]{8,}(?![0-9A-Za-z])", " ", text)
    words = set(re.findall(r"[A-Za-z]{2,}", text))
    return words - _ALLOWED_LATIN


# --- the registry ----------------------------------------------------------------------------------------


def test_registry_names_fields_times_and_languages() -> None:
    names = [p.name for p in all_platforms()]
    assert len(names) == len(set(names))
    assert {p.name: [f.name for f in p.fields] for p in all_platforms()} == FIELDS
    assert get_platform("x").response_hours == 48 and "Take It Down Act" in get_platform("x").response_basis
    assert get_platform("kcsc").response_hours == 24
    for name in ("meta", "reddit"):  # US platforms under the TAKE IT DOWN Act, like X
        assert get_platform(name).response_hours == 48 and get_platform(name).us_take_it_down
    for name in ("telegram", "google", "adsc", "stopncii", "ncmec_take_it_down"):
        assert get_platform(name).response_hours is None
        assert get_platform(name).describe()["response"] == NOT_STATED
    assert (
        get_platform("kcsc").languages == ("ko",) and get_platform("x").describe()["languages"] == NOT_STATED
    )
    assert {p.name for p in all_platforms() if p.for_minors} == {"ncmec_take_it_down", "kcsc", "adsc"}
    assert get_platform("stopncii").adults_only and get_platform("stopncii").route_kind == "hash_submission"
    assert [p.name for p in all_platforms() if p.can_send()] == ["email"]
    for p in all_platforms():  # every field has a label in both languages
        assert all(set(LABELS[f.name]) == {"en", "ko"} for f in p.fields)
    assert all(set(v) == {"en", "ko"} for v in TEXT.values())

    class Dup(Platform):
        name = "x"
        title = "another X"
        route_kind = "web_form"
        fields = (Field("description"),)

    with pytest.raises(ValueError, match="already registered"):
        platforms_by_name((*PLATFORMS, Dup))
    with pytest.raises(UserError, match="no platform"):
        get_platform("myspace")


def test_host_mapping() -> None:
    def sighting(url: str) -> Sighting:
        return Sighting(source="web", source_key=f"web|{url}", extra={"url": url})

    assert get_platform("x").covers(sighting("https://twitter.com/a/status/1"))
    assert not get_platform("x").covers(sighting("https://notx.com/a"))
    assert get_platform("google").covers(sighting("https://www.google.co.kr/search?q=a"))
    assert get_platform("meta").covers(sighting("https://m.facebook.com/photo?fbid=1"))
    assert get_platform("reddit").covers(sighting("https://i.redd.it/abc.jpg"))
    assert get_platform("telegram").covers(sighting("https://t.me/somechannel/45"))
    tg = get_platform("telegram")
    assert tg.covers(Sighting(source="telegram", source_key="k", chat_type="public_channel"))
    assert tg.covers(Sighting(source="telegram", source_key="k", chat_type="private_supergroup"))
    assert not tg.covers(Sighting(source="telegram", source_key="k", chat_type="personal_chat"))


# --- drafting ---------------------------------------------------------------------------------------------


def test_drafts_for_five_platforms_in_both_languages_with_every_field(ws: Workspace) -> None:
    ids = draft(ws, contact=CONTACT)
    with ws.session() as s:
        notices = [s.get(Notice, i) for i in ids]
        by_platform = {n.platform: n for n in notices if n is not None}
        assert set(by_platform) == SIGHTING_PLATFORMS
        for name, n in by_platform.items():
            assert n.status == "draft" and n.lang == "both" and n.sent_at is None
            assert set(n.fields) == {"en", "ko"}
            for lang in ("en", "ko"):
                assert list(n.fields[lang]) == FIELDS[name]
                required = [f.name for f in get_platform(name).fields if f.required]
                assert all(n.fields[lang][f].strip() for f in required), (name, lang, n.fields[lang])
            assert missing_fields(n) == {}
            assert "Client 07" not in n.text  # a pseudonym by default
            if "reporter_name" in FIELDS[name]:
                assert f"Case {n.person_id[:8]}" in n.text and f"사건 {n.person_id[:8]}" in n.text
            assert "No evidence package has been exported yet" in n.text
            assert "아직 내보낸 증거 패키지가 없습니다" in n.text
            ko = n.fields["ko"]
            assert {k: english_leftovers(v) for k, v in ko.items() if english_leftovers(v)} == {}
        x = by_platform["x"]
        assert WEB["x"] in x.fields["en"]["content_locations"]
        assert WEB["reddit"] not in x.fields["en"]["content_locations"]
        assert WEB["google"] in by_platform["google"].fields["en"]["search_urls"]
        tg = by_platform["telegram"]
        assert "Room B" in tg.fields["en"]["chat_name"] and "trader" not in tg.fields["en"]["chat_name"]
        assert "message" in tg.fields["en"]["content_locations"]
        assert "메시지" in tg.fields["ko"]["content_locations"]
        # the forensic explanation, per image, in each language
        assert "image " in x.fields["en"]["forensic_explanation"]
        assert "이미지 " in x.fields["ko"]["forensic_explanation"]
        ko_text = tg.text[tg.text.index("Telegram 담당자께") :]
        assert english_leftovers(ko_text) == set(), english_leftovers(ko_text)
        assert not any(w in tg.text.lower() for w in ("leaked", "you shared", "your fault", "careless"))
    assert kinds(ws) == ["takedown.drafted"] * 5
    assert ws.verify_custody() == []


def test_redraft_skips_covered_sightings_and_refused_gets_a_follow_up(ws: Workspace) -> None:
    first = draft(ws, platform="x", lang="en")
    with ws.session() as s:
        r = draft_notices(s, person_id=person_id(ws), platform="x")
        assert r.notices == [] and "already" in r.skipped["x"]
        set_status(s, notice_id=first[0], status="sent", at=T0)
        set_status(s, notice_id=first[0], status="refused", at=T0 + timedelta(hours=30))
        s.commit()
    (again,) = draft(ws, platform="x", lang="ko")
    with ws.session() as s:
        n = s.get(Notice, again)
        assert n is not None and n.parent_id == first[0] and n.lang == "ko" and set(n.fields) == {"ko"}
        assert first[0] in n.text and "이전 신고" in n.text
        assert english_leftovers(n.text) == set()


def test_name_visible_and_evidence_hash(ws: Workspace, tmp_path: Path) -> None:
    from reclaim.evidence.package import export_package

    result = export_package(ws, person_id=person_id(ws), out=tmp_path / "case.zip", confirmed_only=True)
    (nid,) = draft(ws, platform="meta", name_visible=True)
    with ws.session() as s:
        n = s.get(Notice, nid)
        assert n is not None and "Client 07" in n.text
        assert n.evidence_sha256 == result.manifest_sha256 and result.manifest_sha256 in n.text
    with ws.session() as s:
        ev = s.scalars(select(Event).where(Event.kind == "takedown.drafted")).one()
        assert "Client 07" not in json.dumps(ev.detail)  # names never go into the log
    other = tmp_path / "other.zip"
    shutil.copy(result.path, other)
    (nid2,) = draft(ws, platform="reddit", package=other)
    with ws.session() as s:
        n2 = s.get(Notice, nid2)
        assert n2 is not None and n2.evidence_sha256 == result.manifest_sha256
    with ws.session() as s, pytest.raises(UserError, match="not an evidence package"):
        draft_notices(s, person_id=person_id(ws), platform="x", package=tmp_path / "nothing.zip")


def test_minor_only_goes_to_routes_for_minors(ws: Workspace) -> None:
    with ws.session() as s:
        person = s.get(Person, person_id(ws))
        assert person is not None
        person.minor = True
        s.commit()
    ids = draft(ws)
    with ws.session() as s:
        got = {n.platform: n for n in (s.get(Notice, i) for i in ids) if n is not None}
        assert set(got) == {"ncmec_take_it_down", "kcsc", "adsc"}
        assert "under 18" in got["ncmec_take_it_down"].fields["en"]["age_statement"]
        for name in ("x", "stopncii", "telegram"):
            with pytest.raises(UserError, match=r"minor|adults"):
                draft_notices(s, person_id=person_id(ws), platform=name)


def test_case_wide_platforms_cover_every_confirmed_sighting(ws: Workspace) -> None:
    (kcsc,) = draft(ws, platform="kcsc", lang="ko", contact=CONTACT)
    with ws.session() as s:
        n = s.get(Notice, kcsc)
        total = len(s.scalars(select(Sighting.id).where(Sighting.item_id.in_(select(Match.item_id)))).all())
        assert n is not None and len(n.sightings) == total
        assert missing_fields(n) == {}
        with pytest.raises(UserError, match="--to"):
            draft_notices(s, person_id=person_id(ws), platform="email")


# --- tracking ---------------------------------------------------------------------------------------------


def test_status_changes_overdue_with_frozen_clock(ws: Workspace) -> None:
    x, kcsc, tg = draft(ws, platform="x")[0], draft(ws, platform="kcsc")[0], draft(ws, platform="telegram")[0]
    with ws.session() as s:
        with pytest.raises(UserError, match="cannot become"):
            set_status(s, notice_id=x, status="acknowledged")
        for nid in (x, kcsc, tg):
            set_status(s, notice_id=nid, status="sent", at=T0)
        set_status(s, notice_id=x, status="acknowledged", at=T0 + timedelta(hours=2), note="ticket 123")
        s.commit()
        n = s.get(Notice, x)
        assert n is not None and n.due_at == T0 + timedelta(hours=48)
        assert refresh_overdue(s, now=T0 + timedelta(hours=23)) == []
        assert [n.id for n in refresh_overdue(s, now=T0 + timedelta(hours=25))] == [kcsc]
        assert [n.id for n in refresh_overdue(s, now=T0 + timedelta(hours=49))] == [x]
        assert refresh_overdue(s, now=T0 + timedelta(days=365)) == []  # telegram: no stated time
        s.commit()
        k = s.get(Notice, kcsc)
        assert k is not None and k.status == "overdue" and k.overdue_at == T0 + timedelta(hours=25)
        set_status(s, notice_id=kcsc, status="removed", at=T0 + timedelta(hours=30))
        with pytest.raises(UserError, match="cannot become"):
            set_status(s, notice_id=kcsc, status="sent")
        with pytest.raises(UserError, match="zone"):
            set_status(s, notice_id=tg, status="removed", at=datetime(2026, 11, 21))
        s.commit()
        events = s.scalars(
            select(Event).where(Event.kind == "takedown.status_changed").order_by(Event.id)
        ).all()
        assert [(e.detail or {})["status"] for e in events] == [
            "sent", "sent", "sent", "acknowledged", "overdue", "overdue", "removed"
        ]  # fmt: skip
        assert events[3].detail is not None and events[3].detail["note"] == "ticket 123"
        assert events[4].detail is not None and events[4].detail["reason"] == "clock"
    assert ws.verify_custody() == []


def add_web_sighting(ws: Workspace, url: str) -> None:
    with ws.session() as s:
        item = s.scalars(select(Item).join(Match, Match.item_id == Item.id).order_by(Item.id)).first()
        assert item is not None
        s.add(
            Sighting(
                dedupe_key=hashlib.sha256(f"web|{url}".encode()).hexdigest(),
                item_id=item.id,
                source="web",
                source_key=f"web|{url}",
                posted_at=T0,
                extra={"url": url},
            )
        )
        s.commit()


def test_statistics_median_and_share_refused(ws: Workspace) -> None:
    ids = draft(ws)
    with ws.session() as s:
        by = {n.platform: n.id for n in s.scalars(select(Notice))}
        assert set(by) == SIGHTING_PLATFORMS and len(ids) == 5
        set_status(s, notice_id=by["google"], status="sent", at=T0)
        set_status(s, notice_id=by["google"], status="refused", at=T0 + timedelta(hours=5))
        set_status(s, notice_id=by["x"], status="sent", at=T0)
        set_status(s, notice_id=by["x"], status="refused", at=T0 + timedelta(hours=40))
        s.commit()
    # three more X notices (new reposts each time), removed after 10, 20 and 60 hours
    for n, hours in enumerate((60, 10, 20)):
        add_web_sighting(ws, f"https://x.com/other/status/{n}")
        (nid,) = draft(ws, platform="x")
        with ws.session() as s:
            set_status(s, notice_id=nid, status="sent", at=T0)
            set_status(s, notice_id=nid, status="removed", at=T0 + timedelta(hours=hours))
            s.commit()
    with ws.session() as s:
        stats = {r["platform"]: r for r in platform_stats(s)}
    assert stats["x"]["notices"] == 4 and stats["x"]["by_status"]["removed"] == 3
    assert stats["x"]["median_hours_to_removal"] == 20 and stats["x"]["share_refused"] == 0.25
    assert stats["google"]["share_refused"] == 1 and stats["google"]["median_hours_to_removal"] is None
    assert stats["telegram"]["share_refused"] is None and stats["telegram"]["by_status"]["draft"] == 1


# --- sending ----------------------------------------------------------------------------------------------


class _Collect:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, _Collect]]:
    from aiosmtpd.controller import Controller

    handler = _Collect()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


def test_send_through_local_smtp_server(ws: Workspace, smtp_server: tuple[int, _Collect]) -> None:
    port, handler = smtp_server
    (nid,) = draft(ws, platform="email", recipient="abuse@host.example", contact=CONTACT)
    (xid,) = draft(ws, platform="x")
    settings = SmtpSettings(host="127.0.0.1", port=port, sender="advocate@support.example", tls="none")
    with ws.session() as s:
        with pytest.raises(UserError, match="no e-mail route"):
            send_notice(s, notice_id=xid, settings=settings)
        r = send_notice(s, notice_id=nid, settings=settings)
        assert r.sent and r.error is None
    ((mail_from, rcpt, content),) = handler.messages
    assert mail_from == "advocate@support.example" and rcpt == ["abuse@host.example"]
    import email

    msg = email.message_from_bytes(content)
    body = msg.get_payload(decode=True)
    assert isinstance(body, bytes)
    with ws.session() as s:
        n = s.get(Notice, nid)
        assert n is not None and n.status == "sent" and n.sent_at is not None and n.error is None
        assert n.due_at is None  # no stated response time for a generic host
        assert body.decode("utf-8").replace("\r\n", "\n") == n.text
        assert "Removal request" in str(email.header.make_header(email.header.decode_header(msg["Subject"])))
        with pytest.raises(UserError, match="not a draft"):
            send_notice(s, notice_id=nid, settings=settings)
    assert kinds(ws)[-1] == "takedown.status_changed"
    assert ws.verify_custody() == []


def test_send_failure_keeps_the_draft_and_records_the_error(ws: Workspace) -> None:
    (nid,) = draft(ws, platform="email", recipient="abuse@host.example", contact=CONTACT)
    with ws.session() as s:
        before = s.get(Notice, nid)
        assert before is not None
        text, fields = before.text, dict(before.fields)
    settings = SmtpSettings(host="127.0.0.1", port=_free_port(), sender="a@b.example", tls="none", timeout=5)
    with ws.session() as s:
        r = send_notice(s, notice_id=nid, settings=settings)
        assert not r.sent and r.error and "Connection" in r.error
    with ws.session() as s:
        n = s.get(Notice, nid)
        assert n is not None and n.status == "draft" and n.sent_at is None
        assert (
            n.error == r.error
            and n.text == text
            and n.fields == fields
            and n.recipient == "abuse@host.example"
        )
    assert kinds(ws)[-1] == "takedown.send_failed"
    assert ws.verify_custody() == []


def test_smtp_settings_from_env_and_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no SMTP server"):
        smtp_settings(tmp_path, env={})
    (tmp_path / "smtp.json").write_text(json.dumps({"host": "mail.example", "from": "a@example.org"}))
    got = smtp_settings(tmp_path, env={})
    assert (got.host, got.port, got.tls, got.sender) == ("mail.example", 587, "starttls", "a@example.org")
    got = smtp_settings(
        tmp_path,
        env={
            "RECLAIM_SMTP_HOST": "127.0.0.1",
            "RECLAIM_SMTP_PORT": "2525",
            "RECLAIM_SMTP_TLS": "none",
            "RECLAIM_SMTP_PASSWORD": "pw",
        },
    )
    assert (got.host, got.port, got.tls, got.password) == ("127.0.0.1", 2525, "none", "pw")
    assert "pw" not in repr(got)
    with pytest.raises(UserError, match="tls"):
        smtp_settings(tmp_path, env={"RECLAIM_SMTP_TLS": "maybe"})
    from reclaim.takedown.sending import deliver as _deliver

    remote = SmtpSettings(host="mail.example", port=25, sender="a@b", user="u", password="p", tls="none")
    with pytest.raises(UserError, match="without TLS"):
        _deliver(remote, __import__("email.message").message.EmailMessage())


# --- the CLI ----------------------------------------------------------------------------------------------


def test_cli_json_contract(
    ws_dir: Path, smtp_server: tuple[int, _Collect], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, handler = smtp_server
    w = Workspace.open(ws_dir, PASSPHRASE)
    try:
        pid = person_id(w)
    finally:
        w.close()
    code, out, err = invoke("takedown", "platforms", "--json")
    assert code == 0, err
    assert {r["name"] for r in json.loads(out)} == set(FIELDS)

    code, out, err = invoke("takedown", "draft", "--person", pid, "--contact", CONTACT, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert set(result) == {"notices", "skipped", "unrouted_sightings", "evidence"}
    assert {n["platform"] for n in result["notices"]} == SIGHTING_PLATFORMS
    assert result["evidence"] == {"manifest_sha256": None, "source": "none"}
    keys = {
        "notice_id",
        "person_id",
        "platform",
        "status",
        "lang",
        "sightings",
        "parent_id",
        "evidence_sha256",
        "route_kind",
        "can_send",
        "response",
        "created_at",
        "sent_at",
        "due_at",
        "acknowledged_at",
        "overdue_at",
        "removed_at",
        "refused_at",
        "overdue_by_hours",
        "error",
        "missing_fields",
    }
    assert all(set(n) == keys for n in result["notices"])
    x = next(n for n in result["notices"] if n["platform"] == "x")
    assert x["response"].startswith("48 h") and x["status"] == "draft"

    code, out, err = invoke("takedown", "show", x["notice_id"], "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert set(shown["fields"]) == {"en", "ko"} and "To the X team" in shown["text"]

    code, _, err = invoke(
        "takedown", "mark", x["notice_id"], "--status", "sent", "--at", "2026-11-20T09:00:00Z"
    )
    assert code == 0, err
    code, out, err = invoke("takedown", "status", "--overdue", "--json")
    assert code == 0, err
    status = json.loads(out)
    assert status["newly_overdue"] == [x["notice_id"]]
    assert [n["notice_id"] for n in status["notices"]] == [x["notice_id"]]
    assert status["notices"][0]["overdue_by_hours"] > 0
    code, out, _ = invoke("takedown", "list", "--overdue", "--json")
    assert code == 0 and [n["notice_id"] for n in json.loads(out)] == [x["notice_id"]]

    code, out, err = invoke("takedown", "mark", x["notice_id"], "--status", "removed", "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "removed"
    code, out, err = invoke("takedown", "stats", "--json")
    assert code == 0, err
    stats = {r["platform"]: r for r in json.loads(out)}
    assert stats["x"]["by_status"]["removed"] == 1 and stats["x"]["share_refused"] == 0

    # user errors: exit 2
    assert invoke("takedown", "mark", x["notice_id"], "--status", "sent")[0] == 2
    assert invoke("takedown", "mark", x["notice_id"], "--status", "bogus")[0] == 2
    assert invoke("takedown", "draft", "--person", pid, "--platform", "myspace")[0] == 2
    assert invoke("takedown", "draft", "--person", pid, "--lang", "fr")[0] == 2
    assert invoke("takedown", "mark", "nope", "--status", "sent")[0] == 2
    assert invoke("takedown", "send", x["notice_id"])[0] == 2  # no SMTP configured

    code, out, err = invoke("takedown", "draft", "--person", pid, "--platform", "email", "--to",
                            "abuse@host.example", "--contact", CONTACT, "--json")  # fmt: skip
    assert code == 0, err
    (mail,) = json.loads(out)["notices"]
    assert mail["can_send"] and mail["missing_fields"] == {}
    monkeypatch.setenv("RECLAIM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("RECLAIM_SMTP_FROM", "advocate@support.example")
    monkeypatch.setenv("RECLAIM_SMTP_TLS", "none")
    monkeypatch.setenv("RECLAIM_SMTP_PORT", str(_free_port()))
    code, out, err = invoke("takedown", "send", mail["notice_id"], "--json")
    assert code == 3 and "stays a draft" in err
    failed = json.loads(out)
    assert failed["status"] == "draft" and failed["sent"] is False and failed["error"]
    monkeypatch.setenv("RECLAIM_SMTP_PORT", str(port))
    code, out, err = invoke("takedown", "send", mail["notice_id"], "--json")
    assert code == 0, err
    sent = json.loads(out)
    assert sent["status"] == "sent" and sent["sent"] is True and sent["error"] is None
    assert len(handler.messages) == 1
    code, out, err = invoke("custody", "verify", "--json")
    assert code == 0 and json.loads(out)["intact"], err
