"""A small funnel whose every report figure is computed by hand in the analytics tests.

All times are UTC; the PUSK calendar works 09:00-18:00 Moscow time (06:00-15:00 UTC), and
10-14 and 17-21 March 2025 are ordinary working weeks. Working time is in the comments.

- D1 (ivanov, v2, 100 000): new 1h -> in_progress 24h/9h -> proposal 24h/9h -> back to
  in_progress 2h/2h -> proposal again 24h/9h -> negotiation 24h/9h -> contract (Fri 12:00 to
  Mon 15:00 MSK) 75h/12h -> payment 1h/1h -> final 24h/9h -> won; cycle 199h.
- D2 (ivanov, v2, 50 000): new 2h -> in_progress 48h/16h -> lost "too expensive".
- D3 (petrov, v1, older version with a stage "qualification" since retired, 70 000):
  new 4h -> qualification 2h -> proposal 24h/9h -> lost "chose a competitor".
- D4 (petrov, department kuznetsov, 30 000): new 30min -> in_progress, still open.
- D5 (sidorov, department kuznetsov, April): new, still open.
- D6: another pipeline; must appear nowhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from funnel.storage.records import DealRecord, NotificationIn, ReportEventIn, TaskIn
from funnel.storage.store import Store
from tests.db_fixtures import migrate


def t(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=UTC)


PATHS: dict[str, list[tuple[str, datetime]]] = {
    "D1": [("new", t(10, 6)), ("in_progress", t(10, 7)), ("proposal", t(11, 7)),
           ("in_progress", t(12, 7)), ("proposal", t(12, 9)), ("negotiation", t(13, 9)),
           ("contract", t(14, 9)), ("payment", t(17, 12)), ("final", t(17, 13)),
           ("won", t(18, 13))],
    "D2": [("new", t(11, 6)), ("in_progress", t(11, 8)), ("lost", t(13, 8))],
    "D3": [("new", t(10, 6)), ("qualification", t(10, 10)), ("proposal", t(10, 12)),
           ("lost", t(11, 12))],
    "D4": [("new", t(12, 6)), ("in_progress", t(12, 6, 30))],
    "D5": [("new", t(1, 6, month=4))],
    "D6": [("new", t(10, 6)), ("in_progress", t(10, 8))],
}  # fmt: skip

DEALS = {  # responsible, head, version, amount, status, lost reason
    "D1": ("ivanov", "smirnova", "v2", "100000", "won", None),
    "D2": ("ivanov", "smirnova", "v2", "50000", "lost", "too expensive"),
    "D3": ("petrov", "smirnova", "v1", "70000", "lost", "chose a competitor"),
    "D4": ("petrov", "kuznetsov", "v2", "30000", "open", None),
    "D5": ("sidorov", "kuznetsov", "v2", "20000", "open", None),
    "D6": ("ivanov", "smirnova", "x1", "999", "open", None),
}

BREACHES = [
    ("D1", "contract", 7, t(14, 14)),
    ("D2", "in_progress", 2, t(12, 15)),
    ("D4", "in_progress", 2, t(14, 8)),
    ("D6", "in_progress", 2, t(12, 8)),
]


def load(store: Store) -> None:
    migrate(store.url)
    for deal_id, path in PATHS.items():
        who, head, version, amount, status, reason = DEALS[deal_id]
        pipeline = "other" if deal_id == "D6" else "pusk"
        store.upsert_deal(DealRecord(
            deal_id=deal_id, title=f"Deal {deal_id}", pipeline_id=pipeline,
            pipeline_version=version, stage=path[-1][0], status="open", responsible=who,
            department_head=head, service="website", amount=Decimal(amount), currency="RUB",
            contact_name="Anna", contact_company=None, started_at=path[0][1],
        ))  # fmt: skip
        previous: str | None = None
        for seq, (stage, at) in enumerate(path, start=1):
            common = {
                "deal_id": deal_id,
                "pipeline_id": pipeline,
                "pipeline_version": version,
                "at": at,
                "actor": who,
            }

            def event(
                key: str,
                stage: str,
                kind: str,
                details: dict[str, object],
                common: dict[str, object] = common,
            ) -> None:
                store.add_report_event(
                    ReportEventIn.model_validate(
                        {**common, "key": key, "stage": stage, "kind": kind, "details": details}
                    )
                )

            cause = "start" if previous is None else "moved"
            if previous is not None:
                event(
                    f"{deal_id}:{seq}:exit",
                    previous,
                    "stage_exited",
                    {"cause": cause, "reason": reason, "seq": seq - 1, "to": stage},
                )
            event(
                f"{deal_id}:{seq}:enter",
                stage,
                "stage_entered",
                {"cause": cause, "reason": reason, "seq": seq, "from": previous},
            )
            previous = stage
        if status != "open":
            store.update_deal(deal_id, status=status, closed_at=path[-1][1], lost_reason=reason)
    for deal_id, stage, seq, at in BREACHES:
        who, head, version, *_ = DEALS[deal_id]
        store.add_report_event(ReportEventIn(
            key=f"{deal_id}:{seq}:breach_report", deal_id=deal_id,
            pipeline_id="other" if deal_id == "D6" else "pusk", pipeline_version=version,
            stage=stage, kind="deadline_breached", at=at, details={"text": stage},
        ))  # fmt: skip
        for person in (who, head):
            store.add_notification(NotificationIn(
                key=f"{deal_id}:{seq}:breach_notify:{person}", deal_id=deal_id, stage=stage,
                recipient=person, message="Deadline breached", created_at=at,
            ))  # fmt: skip
    # Not an escalation: must not be counted as one.
    store.add_notification(NotificationIn(
        key="D1:1:notify_new:ivanov", deal_id="D1", stage="new", recipient="ivanov",
        message="New deal", created_at=t(10, 6),
    ))  # fmt: skip
    tasks = [  # key, deal, stage, responsible, deadline, completed at
        ("D1:3:prepare_proposal_task", "D1", "proposal", "ivanov", t(13, 7), t(12, 20)),
        ("D1:7:signed_contract_task", "D1", "contract", "ivanov", t(19, 9), t(20, 9)),
        ("D4:2:call_task", "D4", "in_progress", "petrov", t(14, 9), None),
        ("D5:1:call_task", "D5", "new", "sidorov", t(2, 9, month=4), None),
    ]
    for key, deal_id, stage, who, deadline, done in tasks:
        store.add_task(TaskIn(
            key=key, deal_id=deal_id, stage=stage, robot_id=key.split(":")[2], title=key,
            description="", responsible=who, created_by=who, needs_confirmation=False,
            deadline_at=deadline, created_at=t(10, 6),
        ))  # fmt: skip
        if done is not None:
            store.set_task_status(key, "done", by=who, at=done)
