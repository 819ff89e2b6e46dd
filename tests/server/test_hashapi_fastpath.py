"""``GET /m/lookup``'s fast path (hashapi.LookupFastPath): the same bytes and headers as the normal route,
taken only for a cached API token of a role with ``/m``; everything else still goes the normal way."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from reclaim.demo import jpeg
from reclaim.demo import sample_picture as _sk
from reclaim.scan.analyze import Analysis
from reclaim.server import hashapi
from reclaim.server.bank import HashBank
from reclaim.server.hashapi import LookupFastPath, TokenCache
from reclaim.store.models import ApiToken, Person

from .conftest import Account, bearer
from .test_hashapi import add_item

pytestmark = pytest.mark.anyio


@dataclass
class Banked:
    confirmed: Analysis
    candidate: Analysis


@pytest.fixture
def banked(app: FastAPI) -> Banked:
    ws = app.state.workspace
    with ws.session() as s:
        person = Person(name="Jane Victim")
        s.add(person)
        s.commit()
        person_id = person.id
    confirmed, _ = add_item(ws, person_id, jpeg(Image.fromarray(_sk("astronaut"))), "confirmed")
    candidate, _ = add_item(ws, person_id, jpeg(Image.fromarray(_sk("rocket"))), "candidate")
    return Banked(confirmed, candidate)


def _pdq(analysis: Analysis, variant: int = 0) -> str:
    return next(v.value for v in analysis.signals if v.signal_type == "pdq" and v.variant == variant)


@pytest.fixture
def answered(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """One entry per GET /m/lookup the fast path saw: whether it answered."""
    seen: list[bool] = []
    original = LookupFastPath._answer

    def spy(self: LookupFastPath, scope: hashapi.Scope) -> bytes | None:
        body = original(self, scope)
        seen.append(body is not None)
        return body

    monkeypatch.setattr(LookupFastPath, "_answer", spy)
    return seen


async def test_fast_path_answers_like_the_route(
    client: httpx.AsyncClient,
    accounts: dict[str, Account],
    banked: Banked,
    app: FastAPI,
    answered: list[bool],
) -> None:
    h = bearer(accounts["platform"])
    queries = [
        {"signal": _pdq(banked.confirmed)},
        {"signal_type": "pdq", "signal": _pdq(banked.confirmed, 5).upper()},
        {"signal_type": "md5", "signal": banked.confirmed.md5.upper()},
        {"signal": _pdq(banked.candidate)},
        {"signal": "f" * 64},
    ]
    first = await client.get("/m/lookup", params=queries[0], headers=h)
    assert first.status_code == 200 and answered == [False], "an unchecked token takes the route"
    for q in queries:
        fast = await client.get("/m/lookup", params=q, headers=h)
        slow = await client.post("/m/lookup", json={"signal_type": "pdq"} | q, headers=h)
        assert answered[-1] is True
        assert fast.status_code == slow.status_code == 200
        assert fast.content == slow.content, q
        assert dict(fast.headers) == dict(slow.headers)
        assert fast.headers["cache-control"] == "no-store"
    assert (await client.get("/m/lookup", params=queries[0], headers=h)).json()["matches"][0][
        "bank_id"
    ] == banked.confirmed.sha256


async def test_fast_path_leaves_everything_else_to_the_route(
    client: httpx.AsyncClient,
    accounts: dict[str, Account],
    banked: Banked,
    app: FastAPI,
    answered: list[bool],
) -> None:
    h = bearer(accounts["platform"])
    ok = {"signal": _pdq(banked.confirmed)}
    assert (await client.get("/m/lookup", params=ok, headers=h)).status_code == 200  # now cached
    cases = [
        ({"signal": "xyz"}, h, 422),
        ({"signal_type": "sha1", "signal": "a" * 40}, h, 422),
        ({"signal": _pdq(banked.confirmed), "extra": "1"}, h, 200),
        ({}, h, 422),
        (ok, bearer(accounts["advocate"]), 403),
        (ok, {"Authorization": "Bearer rct_nope"}, 401),
        (ok, {"Authorization": "Basic abc"}, 401),
    ]
    for params, headers, status in cases:
        answered.clear()
        r = await client.get("/m/lookup", params=params, headers=headers)
        assert r.status_code == status, (params, r.text)
        assert answered == [False], params
    # a token revoked in the database stops working once its cache entry expires
    cache: TokenCache = app.state.hash_api_tokens
    cache.clear()
    bank: HashBank = app.state.hash_bank
    bank.invalidate()
    answered.clear()
    assert (await client.get("/m/lookup", params=ok, headers=h)).status_code == 200
    assert answered == [False], "a bank due for its refresh takes the route (which refreshes it)"
    answered.clear()
    assert (await client.get("/m/lookup", params=ok, headers=h)).status_code == 200
    assert answered == [True]


async def test_tokens_are_rechecked_in_the_background(
    client: httpx.AsyncClient,
    accounts: dict[str, Account],
    banked: Banked,
    app: FastAPI,
    answered: list[bool],
) -> None:
    """Past half its time a cached token is re-checked in the background while it keeps answering; a
    token revoked meanwhile is dropped at the next re-check, within the cache's time."""
    cache = TokenCache(ttl_s=2.0)
    app.state.hash_api_tokens = cache
    bank: HashBank = app.state.hash_bank
    bank.refresh_s = 3600  # no refresh in between (a due one takes the route, which re-checks the same way)
    h = bearer(accounts["platform"])
    ok = {"signal": _pdq(banked.confirmed)}

    async def lookup() -> int:
        answered.clear()
        status = (await client.get("/m/lookup", params=ok, headers=h)).status_code
        await asyncio.gather(*list(cache.tasks))  # let a re-check the request started finish
        return status

    assert await lookup() == 200 and answered == [False]  # checked against the database, cached
    await asyncio.sleep(1.1)  # past half its time: answered from the cache, re-checked meanwhile
    assert await lookup() == 200 and answered == [True]
    await asyncio.sleep(1.1)  # past the first check's time: the re-check renewed it
    assert await lookup() == 200 and answered == [True]
    with app.state.workspace.session() as s:
        for token in s.query(ApiToken).filter(ApiToken.user_id == accounts["platform"].user_id):
            token.revoked = True
        s.commit()
    await asyncio.sleep(1.1)
    assert await lookup() == 200 and answered == [True], "still within the time of its last check"
    assert await lookup() == 401 and answered == [False], "the re-check found it revoked and dropped it"
