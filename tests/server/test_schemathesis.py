"""Property-based testing of the whole OpenAPI spec with schemathesis: every operation, called with
generated requests through the ASGI app as an admin (the role that reaches the most code), never answers
with a server error (5xx), and the spec itself is valid. Bounded: a few examples per operation, so it runs
in well under a minute per backend. Permissions are the matrix's job (test_roles.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from reclaim.demo import SampleExport, build_sample_export

from .conftest import BACKENDS
from .test_api import World, world_for

EXAMPLES = 12
"""Generated requests per operation (examples from the schema come on top)."""


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleExport:
    return build_sample_export(tmp_path_factory.mktemp("sample") / "ChatExport")


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path, sample: SampleExport) -> Iterator[World]:
    with world_for(request.param, tmp_path, sample) as w:
        yield w


def test_no_server_errors(world: World) -> None:
    app = world.app
    headers = {"Authorization": f"Bearer {world.accounts['admin'].token}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=headers)  # for signed-in callers
    # Known ids are mixed into the generated ones, so requests reach past "no such case" too.
    known = {
        "case_id": st.sampled_from([world.case_a, world.case_b]),
        "match_id": st.just(world.match_id),
        "job_id": st.just(world.job_id),
        "sha256": st.just(world.item_sha),
    }
    failures: list[str] = []
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 20
    t0 = time.monotonic()
    for op in operations:
        strategy = op.as_strategy()

        @given(case=strategy, use_known=st.booleans(), data=st.data())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def call(case: schemathesis.Case, use_known: bool, data: st.DataObject) -> None:
            if use_known and case.path_parameters:
                for name in list(case.path_parameters):
                    if name in known:
                        case.path_parameters[name] = data.draw(known[name])
            response = case.call(headers=headers)  # background scans run meanwhile, as in production
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
                )

        call()
    app.state.jobs.wait(timeout=60)
    assert not failures, "\n".join(failures[:20])
    assert time.monotonic() - t0 < 60
