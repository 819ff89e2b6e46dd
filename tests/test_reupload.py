"""Re-upload checks (issue 6, item 4): scan, confirm, draft a takedown, then a later scan of a Telegram
channel reposting a recompressed (JPEG q50) and a mirrored copy: both are flagged as re-uploads of the
confirmed cluster, logged, and a follow-up notice citing the first is drafted. Real SQLite workspace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps
from sqlalchemy import select

from reclaim.demo import build_sample_export, jpeg
from reclaim.persons.service import add_person
from reclaim.review import review_match
from reclaim.scan.service import scan_paths
from reclaim.store.models import Event, Match, Notice, Sighting
from reclaim.takedown.drafting import draft_notices
from reclaim.takedown.reupload import ReuploadCheck, flag_reuploads
from reclaim.workspace import Workspace

from .conftest import PASSPHRASE

T0 = 1_766_000_000


def channel_export(root: Path, images: dict[str, bytes], *, chat_id: int = 4004) -> Path:
    """A minimal Telegram Desktop export: one public channel posting the given images."""
    photos = root / "chats" / "chat_001" / "photos"
    photos.mkdir(parents=True)
    messages: list[dict[str, Any]] = []
    for n, (name, data) in enumerate(images.items(), start=1):
        (photos / name).write_bytes(data)
        messages.append(
            {
                "id": n,
                "type": "message",
                "date": "2025-12-17T19:33:20",
                "date_unixtime": str(T0 + n),
                "from": "Room C",
                "from_id": f"channel{chat_id}",
                "text": "",
                "photo": f"chats/chat_001/photos/{name}",
                "width": 512,
                "height": 400,
            }
        )
    chat = {"name": "Room C", "type": "public_channel", "id": chat_id, "messages": messages}
    doc = {"chats": {"about": "", "list": [chat]}, "left_chats": {"about": "", "list": []}}
    (root / "result.json").write_text(json.dumps(doc), encoding="utf-8")
    return root


def test_reupload_flagged_and_followed_up(tmp_path: Path) -> None:
    sample = build_sample_export(tmp_path / "ChatExport")
    original = sample.root / "chats" / "chat_001" / "photos" / "photo_1.jpg"
    ws = Workspace.create(tmp_path / "ws", PASSPHRASE)
    try:
        with ws.session() as s:
            person = add_person(s, ws.key, name="Client 07", photos=sample.enrol_photos, consent="test")
        pid = person.person_id
        first = scan_paths(ws, [sample.root], workers=1, checks=[ReuploadCheck()])
        assert first.reuploads == 0 and first.follow_ups == 0

        # Confirm the face match of photo_1 (posted in Room A, a group, and forwarded to Room B, a channel).
        with ws.session() as s:
            # sighting paths are encrypted: found in Python, not by SQL LIKE
            item = next(
                sg.item for sg in s.scalars(select(Sighting)) if (sg.path or "").endswith("photo_1.jpg")
            )
            assert item is not None and item.cluster_id is not None
            item_id, cluster_id = item.id, item.cluster_id
            match_id = s.scalar(select(Match.id).where(Match.item_id == item_id, Match.person_id == pid))
            assert match_id is not None
        with ws.session() as s:
            review_match(s, match_id=match_id, decision="confirmed")
        with ws.session() as s:
            drafted = draft_notices(s, person_id=pid, platform="telegram", contact="advocate@support.example")
            s.commit()
            assert len(drafted.notices) == 1
            first_notice = drafted.notices[0]
            first_id, first_created = first_notice.id, first_notice.created_at
            first_covered = {ns.sighting_id for ns in first_notice.sightings}

        # Scanning unrelated material (and the same export again) flags nothing.
        grad = Image.linear_gradient("L").resize((400, 300)).convert("RGB")  # no face, far from the cluster
        unrelated = channel_export(tmp_path / "Unrelated", {"gradient.jpg": jpeg(grad, 85)}, chat_id=5005)
        for path in (unrelated, sample.root):
            report = scan_paths(ws, [path], workers=1, checks=[ReuploadCheck()])
            assert report.reuploads == 0 and report.follow_ups == 0
            assert report.to_dict()["reuploads"] == 0

        # The re-upload: a recompressed (q50) and a mirrored copy posted in another channel.
        src = Image.open(original).convert("RGB")
        repost = channel_export(
            tmp_path / "Repost",
            {"recompressed.jpg": jpeg(src, 50), "mirrored.jpg": jpeg(ImageOps.mirror(src), 85)},
        )
        report = scan_paths(ws, [repost], workers=1, checks=[ReuploadCheck()])
        assert report.new_sightings == 2
        assert report.reuploads == 2 and report.follow_ups == 1
        assert report.to_dict()["reuploads"] == 2

        with ws.session() as s:
            new = s.scalars(select(Sighting).where(Sighting.scan_id == report.scan_id)).all()
            assert len(new) == 2
            for sighting in new:
                assert sighting.item is not None and sighting.item_id != item_id
                assert sighting.item.cluster_id == cluster_id  # joined the original's cluster
                assert (sighting.extra or {})["reupload"] == {
                    "person_id": pid,
                    "cluster_id": cluster_id,
                    "of_notice": first_id,
                }
            events = s.scalars(select(Event).where(Event.kind == "sighting.reupload")).all()
            assert sorted((e.detail or {})["sighting_id"] for e in events) == sorted(x.id for x in new)
            for e in events:
                assert e.detail is not None
                assert e.detail["person_id"] == pid and e.detail["cluster_id"] == cluster_id
                assert e.detail["notice_id"] == first_id

            follow = s.scalars(select(Notice).where(Notice.id != first_id)).all()
            assert len(follow) == 1
            notice = follow[0]
            assert notice.platform == "telegram" and notice.status == "draft"
            assert notice.parent_id == first_id
            assert {ns.sighting_id for ns in notice.sightings} == {x.id for x in new}
            assert not first_covered & {ns.sighting_id for ns in notice.sightings}
            when = first_created.strftime("%Y-%m-%d %H:%M UTC")
            assert (
                f"This follows our earlier notice {first_id} to Telegram, drafted on {when}." in notice.text
            )
            assert f"{when}에 Telegram 앞으로 작성한 이전 신고 {first_id}에 이어지는" in notice.text
            assert "Room C" in notice.text
            drafted_events = s.scalars(
                select(Event).where(Event.kind == "takedown.drafted", Event.subject == f"notice:{notice.id}")
            ).all()
            assert len(drafted_events) == 1 and (drafted_events[0].detail or {})["parent_id"] == first_id

            # Flagging again is harmless: nothing new, no second follow-up.
            again = flag_reuploads(s, report.scan_id)
            assert again.flagged == [] and again.follow_ups == []

            # Drafting again finds everything covered.
            redo = draft_notices(s, person_id=pid, platform="telegram")
            assert redo.notices == [] and "telegram" in redo.skipped
            s.rollback()

        assert ws.verify_custody() == []
    finally:
        ws.close()


def test_reupload_in_a_plain_folder_follows_up_on_the_cited_platform(tmp_path: Path) -> None:
    """The bar's own wording: a folder with a recompressed and a flipped copy. Plain files show no
    platform, so they are routed to the platform of the notice they re-upload."""
    sample = build_sample_export(tmp_path / "ChatExport")
    original = sample.root / "chats" / "chat_001" / "photos" / "photo_1.jpg"
    ws = Workspace.create(tmp_path / "ws", PASSPHRASE)
    try:
        with ws.session() as s:
            pid = add_person(s, ws.key, name="P", photos=sample.enrol_photos, consent="test").person_id
        scan_paths(ws, [sample.root], workers=1, checks=[ReuploadCheck()])
        with ws.session() as s:
            # sighting paths are encrypted: found in Python, not by SQL LIKE
            item = next(
                sg.item for sg in s.scalars(select(Sighting)) if (sg.path or "").endswith("photo_1.jpg")
            )
            assert item is not None
            cluster_id = item.cluster_id
            match_id = s.scalar(select(Match.id).where(Match.item_id == item.id, Match.person_id == pid))
            assert match_id is not None
        with ws.session() as s:
            review_match(s, match_id=match_id, decision="confirmed")
        with ws.session() as s:
            first_id = draft_notices(s, person_id=pid, platform="telegram").notices[0].id
            s.commit()

        folder = tmp_path / "saved-by-advocate"
        folder.mkdir()
        src = Image.open(original).convert("RGB")
        (folder / "copy_q45.jpg").write_bytes(jpeg(src, 45))
        (folder / "copy_flipped.jpg").write_bytes(jpeg(ImageOps.mirror(src), 80))
        report = scan_paths(ws, [folder], workers=1, checks=[ReuploadCheck()])
        assert report.reuploads == 2 and report.follow_ups == 1

        with ws.session() as s:
            new = s.scalars(select(Sighting).where(Sighting.scan_id == report.scan_id)).all()
            assert len(new) == 2
            for sighting in new:
                assert sighting.item is not None and sighting.item.cluster_id == cluster_id
                flag = (sighting.extra or {})["reupload"]
                assert flag == {"person_id": pid, "cluster_id": cluster_id, "of_notice": first_id,
                                "route": "telegram"}  # fmt: skip
            follow = s.scalars(select(Notice).where(Notice.id != first_id)).all()
            assert len(follow) == 1 and follow[0].platform == "telegram" and follow[0].parent_id == first_id
            assert {ns.sighting_id for ns in follow[0].sightings} == {x.id for x in new}
            assert f"earlier notice {first_id}" in follow[0].text
        assert ws.verify_custody() == []
    finally:
        ws.close()
