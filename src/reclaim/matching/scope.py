"""Case isolation, as a rule of the matching engine.

Material is scanned into a *scope*: the team server's case it was uploaded to, or ``None`` for the CLI's
workspace (which is one case). A person's scope is the set of cases whose person they are; a person in no
case (every person of a CLI workspace) has the scope ``{None}``. A person is matched (face, hash, robust,
repost) only against items that have a sighting in one of their scopes: an advocate who enrols a face in
their case never gets matches, sightings or media of another case's material, whatever face they enrol.

The same bytes uploaded to two cases are one item (content-addressed) with a sighting in each case; each
case's person can match it through their own sighting.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import ColumnElement, Select, false, or_, select
from sqlalchemy.orm import Session

from reclaim.store.models import Case, Item, Person, Scan, Sighting

Scope = str | None
"""A case id, or None for material scanned outside any case (the CLI)."""


def scopes_of(session: Session, person_id: str) -> set[Scope]:
    """The scopes a person is matched in: their cases, or ``{None}`` when they are in none."""
    cases: set[Scope] = set(session.scalars(select(Case.id).where(Case.person_id == person_id)))
    return cases or {None}


def persons_in(scope: Scope) -> ColumnElement[bool]:
    """A condition on :class:`Person`: the persons matched in ``scope``."""
    in_a_case = select(Case.id).where(Case.person_id == Person.id).exists()
    if scope is None:
        return ~in_a_case
    return select(Case.id).where(Case.person_id == Person.id, Case.id == scope).exists()


def _scope_condition(scopes: Collection[Scope]) -> ColumnElement[bool]:
    cases = [s for s in scopes if s is not None]
    parts: list[ColumnElement[bool]] = []
    if cases:
        parts.append(Scan.case_id.in_(cases))
    if None in scopes:
        parts.append(Scan.case_id.is_(None))
        parts.append(Sighting.scan_id.is_(None))
    return or_(*parts) if parts else false()


def items_in(scopes: Collection[Scope]) -> Select[Any]:
    """The ids of the items with a sighting in one of ``scopes``. An item with no sighting at all (none
    is written without one; tests make such items) counts as the workspace's own: scope None."""
    scoped = (
        select(Sighting.item_id)
        .outerjoin(Scan, Scan.id == Sighting.scan_id)
        .where(Sighting.item_id.is_not(None), _scope_condition(scopes))
    )
    if None in scopes:
        unseen = ~select(Sighting.id).where(Sighting.item_id == Item.id).exists()
        return select(Item.id).where(or_(Item.id.in_(scoped), unseen))
    return select(Item.id).where(Item.id.in_(scoped))


def filter_items(session: Session, item_ids: Iterable[int], scopes: Collection[Scope]) -> set[int]:
    """Those of ``item_ids`` that have a sighting in one of ``scopes``."""
    wanted = set(item_ids)
    if not wanted:
        return set()
    return {int(i) for i in session.scalars(items_in(scopes).where(Item.id.in_(wanted)))}


def sightings_in(scopes: Collection[Scope]) -> Select[Any]:
    """The ids of the sightings made in one of ``scopes``."""
    return select(Sighting.id).outerjoin(Scan, Scan.id == Sighting.scan_id).where(_scope_condition(scopes))


class SightingFilter:
    """Which sightings a person's matches may show: those of the person's scopes (a shared item's
    sightings in another case are that case's). One query per distinct scope set, cached."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._scopes: dict[str, frozenset[Scope]] = {}
        self._allowed: dict[frozenset[Scope], set[int]] = {}

    def allows(self, person_id: str, sighting_id: int) -> bool:
        scopes = self._scopes.get(person_id)
        if scopes is None:
            scopes = self._scopes[person_id] = frozenset(scopes_of(self.session, person_id))
        allowed = self._allowed.get(scopes)
        if allowed is None:
            allowed = self._allowed[scopes] = set(self.session.scalars(sightings_in(scopes)))
        return sighting_id in allowed
