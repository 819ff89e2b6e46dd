"""The languages reclaim writes in: one type for every en/ko catalogue (the web UI, takedown notices,
the evidence report, the statements' Korean headlines).

A bottom module (beside :mod:`reclaim.errors`), so that every layer can name a language without
importing another layer's catalogue.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from reclaim.errors import UserError

Lang = Literal["en", "ko"]
LANGS: Final[tuple[Lang, ...]] = get_args(Lang)


def parse_lang(value: object, *, option: str = "--lang") -> Lang:
    """``value`` as a :data:`Lang`; raises UserError ("<option> must be en or ko") for anything else."""
    for lang in LANGS:
        if value == lang:
            return lang
    raise UserError(f"{option} must be en or ko")
