"""Schemathesis over the live API's OpenAPI spec: generated requests, valid and invalid, to
every operation against the real stack must never get a server error (5xx).

Generated deal ids would almost always be unknown (404), so half of the cases are pointed at
real deals in several stages, and webhook deliveries are signed with the right secret so
that generated payments get past the signature check."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from temporalio.testing import WorkflowEnvironment

from tests.api_support import WRITE, Stack, api_stack, deal_body, signed

EXAMPLES_PER_OPERATION = 15
AUTH = {"Authorization": f"Bearer {WRITE}"}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    async with api_stack(dev_env, tmp_path_factory.mktemp("api-schema")) as s:
        yield s


async def real_deals(stack: Stack) -> list[str]:
    ids = []
    for stage in ("new", "contract", "payment", "final"):
        deal_id = (await stack.http.post("/deals", json=deal_body())).json()["deal_id"]
        if stage != "new":
            move = {"stage": stage}
            r = await stack.http.post(
                f"/deals/{deal_id}/move", json=move, headers=stack.as_person("ivanov")
            )
            assert r.status_code == 200, r.text
        ids.append(deal_id)
    return ids


def fuzz(base_url: str, deal_ids: list[str]) -> tuple[Counter[str], list[str]]:
    """Runs in a thread: schemathesis calls synchronously while uvicorn serves on the test's
    event loop."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    server_errors: list[str] = []
    statuses: Counter[str] = Counter()

    def send(session: requests.Session, case: schemathesis.Case) -> Any:  # type: ignore[type-arg]
        if case.path == "/webhooks/payments" and isinstance(case.body, dict):
            body, headers = signed(case.body)
            return session.post(f"{base_url}{case.path}", data=body, headers=headers, timeout=30)
        response = case.call(base_url=base_url, session=session, headers=AUTH, timeout=30)
        return response

    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()  # type: ignore[union-attr]
            for mode in GenerationMode:

                @given(case=operation.as_strategy(mode), real=st.sampled_from([None, *deal_ids]))
                @hypothesis_settings(
                    max_examples=EXAMPLES_PER_OPERATION,
                    deadline=None,
                    database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                def check(case: schemathesis.Case, real: str | None) -> None:  # type: ignore[type-arg]
                    if real and "deal_id" in (case.path_parameters or {}):
                        case.path_parameters = {**(case.path_parameters or {}), "deal_id": real}
                    response = send(session, case)
                    statuses[f"{case.method} {case.path} {response.status_code}"] += 1
                    if response.status_code >= 500:
                        server_errors.append(
                            f"{response.status_code} {case.as_curl_command()}\n"
                            f"{response.text[:500]}"
                        )

                try:
                    check()
                except Unsatisfiable:
                    # Nothing to make invalid (GET /healthz has no inputs): skip the mode.
                    assert mode is GenerationMode.NEGATIVE, operation.label
    return statuses, server_errors


async def test_no_server_error_anywhere_in_the_spec(stack: Stack) -> None:
    deal_ids = await real_deals(stack)
    statuses, server_errors = await asyncio.to_thread(fuzz, stack.base_url, deal_ids)
    assert not server_errors, "\n\n".join(server_errors[:10])
    assert sum(statuses.values()) > 200
    # The run reached past validation: real deals answered, signed payments were read.
    answered: dict[str, Any] = {k: v for k, v in statuses.items() if " 2" in k}
    assert any(k.startswith("GET /deals/{deal_id} 2") for k in answered), statuses
    assert any(k.startswith("POST /webhooks/payments 4") and "401" not in k for k in statuses)
