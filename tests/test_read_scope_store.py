"""The read scope where the store applies it, on SQLite and PostgreSQL: closed deals by
responsible, head or sales team (the team only in the recorded state)."""

from __future__ import annotations

from datetime import UTC, datetime

from funnel.domain.models import DealInput, DealState, DealStatus
from funnel.storage.closed_deals import ClosedDeal, ClosedDeals
from funnel.storage.store import Store
from funnel.storage.store_tasks import TaskReader
from tests.api_support import deal_body
from tests.db_fixtures import migrate
from tests.test_store import deal, task

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)


def _closed(deal_id: str, responsible: str, head: str, team: list[str]) -> ClosedDeal:
    deal = DealInput.model_validate(
        deal_body(deal_id, responsible=responsible, department_head=head, sales_team=team)
    )
    state = DealState(
        deal_id=deal_id, deal=deal, pipeline_id="pusk", pipeline_version="1", title=deal_id,
        stage="lost", status=DealStatus.LOST,
    )  # fmt: skip
    return ClosedDeal(state=state, closed_at=NOW, recorded_at=NOW)


def test_closed_deals_of_a_scope(db_url: str) -> None:
    migrate(db_url)
    store = Store(db_url)
    try:
        records = ClosedDeals(store)
        records.add(_closed("S-1", "ivanov", "smirnova", []))
        records.add(_closed("S-2", "petrov", "smirnova", ["ivanov", "sidorova"]))
        records.add(_closed("S-3", "kozlov", "orlova", []))

        def found(**scope: object) -> set[str]:
            return {r.deal_id for r in records.find(**scope)}  # type: ignore[arg-type]

        assert found() == {"S-1", "S-2", "S-3"}
        assert found(responsibles={"ivanov"}, member="ivanov") == {"S-1", "S-2"}
        assert found(responsibles={"petrov"}, member="petrov") == {"S-2"}
        assert found(responsibles={"nobody"}, member="sidorova") == {"S-2"}
        assert found(responsibles={"orlova"}, head="orlova") == {"S-3"}
        assert found(responsibles={"smirnova", "ivanov"}, head="smirnova") == {"S-1", "S-2"}
    finally:
        store.dispose()


def test_tasks_a_person_reads(db_url: str) -> None:
    migrate(db_url)
    store = Store(db_url)
    try:
        store.add_deal(deal())  # ivanov's, head petrov
        store.add_deal(deal(deal_id="43", responsible="kozlov", department_head="orlova"))
        store.add_task(task("a", co_executors=[]))
        store.add_task(task("b", deal_id="43", responsible="kozlov", co_executors=["sidorov"]))
        store.add_task(task("c", deal_id="43", responsible="kozlov", co_executors=[]))

        def keys(person: str, responsibles: set[str], head: str | None = None) -> list[str]:
            reader = TaskReader(person, responsibles, head)
            return [t.key for t in store.tasks(reader=reader)]

        assert keys("ivanov", {"ivanov"}) == ["a"]
        assert keys("sidorov", {"sidorov"}) == ["b"]  # a co-executor of another's deal
        assert keys("orlova", {"orlova"}, head="orlova") == ["b", "c"]
        assert keys("petrov", {"petrov"}, head="petrov") == ["a"]
        assert keys("smirnova", {"smirnova", "ivanov", "kozlov"}) == ["a", "b", "c"]
    finally:
        store.dispose()
