"""The platforms' hash API: /h/hash, /m/lookup, /m/bank, the bank's contents and the role matrix."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import select

from reclaim.demo import encode_video, jpeg, pan_frames, paste_face
from reclaim.demo import sample_picture as _sk
from reclaim.review.service import review_match
from reclaim.scan.analyze import Analysis, analyze_bytes
from reclaim.server.bank import HashBank
from reclaim.server.hashapi import TokenCache
from reclaim.signals.index import MultiIndexHash, hamming
from reclaim.signals.vpdq import from_values, to_te, unavailable_reason
from reclaim.store.models import ApiToken, Item, Match, Person, Signal
from reclaim.workspace import Workspace

from .conftest import Account, bearer, login

pytestmark = pytest.mark.anyio

PERSON_NAME = "Jane Victim"


@dataclass
class Banked:
    """What the workspace holds: one item per match status, and their analyses."""

    confirmed: Analysis
    candidate: Analysis
    rejected: Analysis
    confirmed_bytes: bytes
    candidate_match_id: str
    person_id: str


def add_item(ws: Workspace, person_id: str, data: bytes, status: str) -> tuple[Analysis, str]:
    """An item analysed from ``data`` with its signals, matched to ``person_id`` with ``status``."""
    analysis = analyze_bytes(data, faces=False)
    with ws.session() as s:
        item = Item(
            sha256=analysis.sha256,
            md5=analysis.md5,
            size=analysis.size,
            mime=analysis.mime,
            kind=analysis.kind,
            width=analysis.width,
            height=analysis.height,
            frame_count=analysis.frame_count,
        )
        s.add(item)
        s.flush()
        for sig in analysis.signals:
            s.add(
                Signal(
                    item_id=item.id,
                    signal_type=sig.signal_type,
                    frame_index=sig.frame_index,
                    variant=sig.variant,
                    value=sig.value,
                    quality=sig.quality,
                )
            )
        match = Match(person_id=person_id, item_id=item.id, kind="face", status=status, distance=0.3)
        s.add(match)
        s.commit()
        return analysis, match.id


@pytest.fixture
def banked(app: FastAPI) -> Banked:
    ws: Workspace = app.state.workspace
    with ws.session() as s:
        person = Person(name=PERSON_NAME)
        s.add(person)
        s.commit()
        person_id = person.id
    confirmed_bytes = jpeg(paste_face(_sk("coffee"), width=150, at=(0.5, 0.35)))
    confirmed, _ = add_item(ws, person_id, confirmed_bytes, "confirmed")
    candidate, candidate_id = add_item(ws, person_id, jpeg(Image.fromarray(_sk("rocket"))), "candidate")
    rejected, _ = add_item(ws, person_id, jpeg(Image.fromarray(_sk("chelsea"))), "rejected")
    return Banked(confirmed, candidate, rejected, confirmed_bytes, candidate_id, person_id)


def _pdq(analysis: Analysis, variant: int = 0) -> str:
    return next(
        s.value
        for s in analysis.signals
        if s.signal_type == "pdq" and s.variant == variant and s.frame_index == 0
    )


def _recompressed(data: bytes) -> bytes:
    img = Image.open(io.BytesIO(data))
    img = img.resize((img.width * 3 // 4, img.height * 3 // 4), Image.Resampling.BILINEAR)
    return jpeg(img, quality=55)


def _no_private_fields(payload: object) -> None:
    text = json.dumps(payload)
    for word in ("person", "case", "name", "chat", PERSON_NAME, "face"):
        assert word not in text, word


async def _upload(client: httpx.AsyncClient, account: Account, data: bytes) -> httpx.Response:
    return await client.post(
        "/h/hash", headers=bearer(account), files={"file": ("x.jpg", data, "image/jpeg")}
    )


async def test_hash_matches_the_library(
    client: httpx.AsyncClient, accounts: dict[str, Account], banked: Banked
) -> None:
    r = await _upload(client, accounts["platform"], banked.confirmed_bytes)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body == {
        "sha256": banked.confirmed.sha256,
        "md5": banked.confirmed.md5,
        "pdq": _pdq(banked.confirmed),
        "pdq_quality": next(s.quality for s in banked.confirmed.signals if s.signal_type == "pdq"),
    }
    assert body["pdq_quality"] >= 50


async def test_hash_refuses_bad_files(client: httpx.AsyncClient, accounts: dict[str, Account]) -> None:
    platform = accounts["platform"]
    r = await _upload(client, platform, b"this is not an image at all")
    assert r.status_code == 422 and "not a supported image or video" in r.json()["detail"]
    r = await _upload(client, platform, b"")
    assert r.status_code == 422 and "empty" in r.json()["detail"]
    r = await _upload(client, platform, jpeg(Image.new("RGB", (64, 64)))[:200])  # truncated
    assert r.status_code == 422
    r = await client.post("/h/hash", headers=bearer(platform), files={"other": ("x.jpg", b"1", "image/jpeg")})
    assert r.status_code == 422 and "'file'" in r.json()["detail"]
    r = await client.post("/h/hash", headers=bearer(platform), json={"file": "abc"})
    assert r.status_code == 422
    huge = {**bearer(platform), "Content-Length": str(10 * 2**30), "Content-Type": "multipart/form-data; b=x"}
    r = await client.post("/h/hash", headers=huge, content=b"x")
    assert r.status_code == 413


async def test_lookup_finds_confirmed_items_only(
    client: httpx.AsyncClient, accounts: dict[str, Account], banked: Banked
) -> None:
    h = bearer(accounts["platform"])
    own = _pdq(banked.confirmed)
    r = await client.get("/m/lookup", params={"signal_type": "pdq", "signal": own}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "matches": [{"bank_id": banked.confirmed.sha256, "signal_type": "pdq", "distance": 0}]
    }
    _no_private_fields(r.json())

    # a recompressed, resized repost: hashed by /h/hash, found within 31 bits
    copy = (await _upload(client, accounts["platform"], _recompressed(banked.confirmed_bytes))).json()
    assert copy["sha256"] != banked.confirmed.sha256
    r = await client.post("/m/lookup", json={"signal_type": "pdq", "signal": copy["pdq"].upper()}, headers=h)
    matches = r.json()["matches"]
    assert [m["bank_id"] for m in matches] == [banked.confirmed.sha256]
    assert matches[0]["distance"] == hamming(copy["pdq"], own) <= 31

    # a mirrored copy matches through the bank's dihedral variants (variant 4: flipped up-down)
    r = await client.get("/m/lookup", params={"signal": _pdq(banked.confirmed, 4)}, headers=h)
    assert [m["bank_id"] for m in r.json()["matches"]] == [banked.confirmed.sha256]

    # candidate and rejected items are not in the bank
    for analysis in (banked.candidate, banked.rejected):
        r = await client.get("/m/lookup", params={"signal_type": "pdq", "signal": _pdq(analysis)}, headers=h)
        assert r.json() == {"matches": []}
        r = await client.get("/m/lookup", params={"signal_type": "md5", "signal": analysis.md5}, headers=h)
        assert r.json() == {"matches": []}

    r = await client.get(
        "/m/lookup", params={"signal_type": "md5", "signal": banked.confirmed.md5}, headers=h
    )
    assert r.json() == {
        "matches": [{"bank_id": banked.confirmed.sha256, "signal_type": "md5", "distance": 0}]
    }

    r = await client.post(
        "/m/lookup/batch",
        json={
            "queries": [
                {"signal_type": "md5", "signal": banked.confirmed.md5},
                {"signal_type": "pdq", "signal": _pdq(banked.rejected)},
            ]
        },
        headers=h,
    )
    assert r.status_code == 200
    assert [len(x["matches"]) for x in r.json()["results"]] == [1, 0]


async def test_bank_follows_reviews(
    client: httpx.AsyncClient, accounts: dict[str, Account], banked: Banked, app: FastAPI
) -> None:
    h = bearer(accounts["platform"])
    params = {"signal_type": "pdq", "signal": _pdq(banked.candidate)}
    assert (await client.get("/m/lookup", params=params, headers=h)).json() == {"matches": []}
    ws: Workspace = app.state.workspace
    with ws.session() as s:
        review_match(s, match_id=banked.candidate_match_id, decision="confirmed", actor="tests")
    bank: HashBank = app.state.hash_bank
    assert (await client.get("/m/lookup", params=params, headers=h)).json() == {"matches": []}, (
        "re-checked at most every refresh_s"
    )
    bank.invalidate()
    r = await client.get("/m/lookup", params=params, headers=h)
    assert [m["bank_id"] for m in r.json()["matches"]] == [banked.candidate.sha256]
    with ws.session() as s:
        review_match(s, match_id=banked.candidate_match_id, decision="rejected", actor="tests")
    bank.refresh_s = 0
    assert (await client.get("/m/lookup", params=params, headers=h)).json() == {"matches": []}


async def test_malformed_hashes(
    client: httpx.AsyncClient, accounts: dict[str, Account], banked: Banked
) -> None:
    h = bearer(accounts["platform"])
    bad = [
        {"signal_type": "pdq", "signal": "abc"},
        {"signal_type": "pdq", "signal": "g" * 64},
        {"signal_type": "pdq", "signal": banked.confirmed.md5},
        {"signal_type": "md5", "signal": _pdq(banked.confirmed)},
        {"signal_type": "sha1", "signal": "0" * 40},
        {"signal_type": "pdq", "signal": "0" * 5000},
    ]
    for params in bad:
        r = await client.get("/m/lookup", params=params, headers=h)
        assert r.status_code == 422, params
        r = await client.post("/m/lookup", json=params, headers=h)
        assert r.status_code == 422, params
    r = await client.get("/m/lookup", params={"signal_type": "pdq"}, headers=h)
    assert r.status_code == 422
    r = await client.get("/m/lookup", params={"signal_type": "pdq", "signal": "abc"}, headers=h)
    assert "64 hex digits" in r.text
    r = await client.post("/m/lookup/batch", json={"queries": [bad[0]] * 1001}, headers=h)
    assert r.status_code == 422


async def test_bank_export(client: httpx.AsyncClient, accounts: dict[str, Account], banked: Banked) -> None:
    h = bearer(accounts["platform"])
    r = await client.get("/m/bank", headers=h)
    assert r.status_code == 200
    body = r.json()
    _no_private_fields(body)
    assert body["count"] == 2
    assert {(e["signal_type"], e["signal"]) for e in body["entries"]} == {
        ("pdq", _pdq(banked.confirmed)),
        ("md5", banked.confirmed.md5),
    }
    assert {e["bank_id"] for e in body["entries"]} == {banked.confirmed.sha256}

    r = await client.get("/m/bank", params={"format": "jsonl"}, headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(line) for line in r.text.splitlines()] == body["entries"]

    r = await client.get("/m/bank", params={"format": "text"}, headers=h)
    assert r.text.splitlines() == [f"pdq {_pdq(banked.confirmed)}", f"md5 {banked.confirmed.md5}"]
    assert (await client.get("/m/bank", params={"format": "csv"}, headers=h)).status_code == 422


ROLE_MATRIX = {
    # route: roles allowed
    "hash": {"admin", "advocate", "platform"},
    "lookup": {"admin", "platform"},
    "bank": {"admin", "platform"},
}


async def test_role_matrix(client: httpx.AsyncClient, accounts: dict[str, Account], banked: Banked) -> None:
    pdq = _pdq(banked.confirmed)
    for account in accounts.values():

        async def call(route: str, account: Account = account) -> int:
            h = bearer(account)
            if route == "hash":
                return (await _upload(client, account, banked.confirmed_bytes)).status_code
            if route == "lookup":
                codes = {
                    (await client.get("/m/lookup", params={"signal": pdq}, headers=h)).status_code,
                    (await client.post("/m/lookup", json={"signal": pdq}, headers=h)).status_code,
                    (
                        await client.post("/m/lookup/batch", json={"queries": [{"signal": pdq}]}, headers=h)
                    ).status_code,
                }
                assert len(codes) == 1
                return codes.pop()
            return (await client.get("/m/bank", headers=h)).status_code

        for route, allowed in ROLE_MATRIX.items():
            expected = 200 if account.role in allowed else 403
            assert await call(route) == expected, (account.username, route)
    # no credentials at all
    assert (await client.get("/m/lookup", params={"signal": pdq})).status_code == 401
    assert (await client.get("/m/bank")).status_code == 401
    r = await client.post("/h/hash", files={"file": ("x.jpg", banked.confirmed_bytes, "image/jpeg")})
    assert r.status_code == 401


async def test_openapi_is_typed(client: httpx.AsyncClient, accounts: dict[str, Account]) -> None:
    # the OpenAPI document is for signed-in callers (a platform token here)
    spec = (await client.get("/openapi.json", headers=bearer(accounts["platform"]))).json()
    paths = spec["paths"]
    assert {"/h/hash", "/m/lookup", "/m/lookup/batch", "/m/bank"} <= set(paths)
    ok = paths["/m/lookup"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/LookupOut"}
    assert "multipart/form-data" in paths["/h/hash"]["post"]["requestBody"]["content"]


def test_index_is_exact_within_31_bits() -> None:
    rng = np.random.default_rng(7)
    hashes = rng.integers(0, 256, (20_000, 32), dtype=np.uint8)
    index = MultiIndexHash(hashes)
    for _ in range(200):
        row = int(rng.integers(0, len(hashes)))
        bits = np.unpackbits(hashes[row])
        bits[rng.choice(256, int(rng.integers(0, 40)), replace=False)] ^= 1
        query = np.packbits(bits)
        rows, distances = index.search(query)
        brute = np.bitwise_count(hashes ^ query).sum(axis=1)
        expected = np.flatnonzero(brute <= 31)
        assert rows.tolist() == expected.tolist()
        assert distances.tolist() == brute[expected].tolist()
    assert len(MultiIndexHash(np.zeros((0, 32), dtype=np.uint8)).search(hashes[0])[0]) == 0
    with pytest.raises(ValueError, match="radius"):
        index.search(hashes[0], 32)


def test_added_hashes_survive_refreshes() -> None:
    bank = HashBank()
    rng = np.random.default_rng(3)
    rows = rng.integers(0, 256, (1000, 32), dtype=np.uint8)
    bank.add_many([f"imported-{i}" for i in range(1000)], rows)
    bank.add_many(["low"], ["0" * 64], quality=[10], md5=["A" * 32])
    assert bank.lookup("pdq", bytes(rows[42]).hex())[0].bank_id == "imported-42"
    assert bank.lookup("pdq", "0" * 64) == [], "low-quality PDQ are not matched"
    assert [m.bank_id for m in bank.lookup("md5", "a" * 32)] == ["low"]
    assert len(bank) == 1001 and bank.pdq_count == 1000
    with pytest.raises(ValueError):
        bank.add_many(["a", "b"], rows[:1])


async def test_sessions_and_revoked_tokens(
    client: httpx.AsyncClient, accounts: dict[str, Account], banked: Banked, app: FastAPI
) -> None:
    params = {"signal": _pdq(banked.confirmed)}
    await login(client, "admin")
    assert (await client.get("/m/lookup", params=params)).status_code == 200  # the UI session works too
    await login(client, "advocate")
    assert (await client.get("/m/lookup", params=params)).status_code == 403
    client.cookies.clear()

    platform = accounts["platform"]
    assert (await client.get("/m/lookup", params=params, headers=bearer(platform))).status_code == 200
    ws: Workspace = app.state.workspace
    with ws.session() as s:
        for token in s.scalars(select(ApiToken).where(ApiToken.user_id == platform.user_id)):
            token.revoked = True
        s.commit()
    cache: TokenCache = app.state.hash_api_tokens
    assert cache.ttl_s <= 10
    cache.clear()  # as if TOKEN_TTL_S had passed
    assert (await client.get("/m/lookup", params=params, headers=bearer(platform))).status_code == 401
    for header in ("Bearer rct_nope", "Basic abc", "Bearer"):
        r = await client.get("/m/lookup", params=params, headers={"Authorization": header})
        assert r.status_code == 401, header


@pytest.mark.skipif(unavailable_reason() is not None, reason=f"vPDQ unavailable here: {unavailable_reason()}")
async def test_vpdq_lookup_finds_a_trimmed_copy_of_a_confirmed_video(
    client: httpx.AsyncClient, accounts: dict[str, Account], app: FastAPI
) -> None:
    ws: Workspace = app.state.workspace
    with ws.session() as s:
        person = Person(name=PERSON_NAME)
        s.add(person)
        s.commit()
        person_id = person.id
    frames = pan_frames("coffee", seconds=8.0, fps=12)
    banked, _ = add_item(ws, person_id, encode_video(frames, fps=12), "confirmed")
    candidate, _ = add_item(
        ws, person_id, encode_video(pan_frames("rocket", seconds=6.0, fps=12)), "candidate"
    )
    h = bearer(accounts["platform"])

    # the platform hashes its upload (the first 2 s cut, re-encoded) and looks the vPDQ up
    copy = (
        await _upload(client, accounts["platform"], encode_video(frames[24:], fps=12, bit_rate=200_000))
    ).json()
    assert copy["vpdq"] is not None and len(json.loads(copy["vpdq"])) == 6
    for r in (
        await client.get("/m/lookup", params={"signal_type": "vpdq", "signal": copy["vpdq"]}, headers=h),
        await client.post("/m/lookup", json={"signal_type": "vpdq", "signal": copy["vpdq"]}, headers=h),
    ):
        assert r.status_code == 200, r.text
        (m,) = r.json()["matches"]
        assert (m["bank_id"], m["signal_type"]) == (banked.sha256, "vpdq")
        assert m["query_match_percent"] == 100.0 and m["compared_match_percent"] == 75.0
        assert m["distance"] == 0
        _no_private_fields(r.json())
    # a candidate (unconfirmed) video is not banked; an image's answer has no vpdq key
    own = to_te(from_values(candidate.signals))
    r = await client.post("/m/lookup", json={"signal_type": "vpdq", "signal": own}, headers=h)
    assert r.json() == {"matches": []}
    assert (
        "vpdq"
        not in (await _upload(client, accounts["platform"], jpeg(Image.fromarray(_sk("coins"))))).json()
    )
    r = await client.post("/m/lookup", json={"signal_type": "vpdq", "signal": '["not a feature"]'}, headers=h)
    assert r.status_code == 422
    # the bank lists it in python-threatexchange's "<type> <signal>" lines
    text = (await client.get("/m/bank", params={"format": "text"}, headers=h)).text
    assert f"vpdq {to_te(from_values(banked.signals))}\n" in text
