"""Benchmark: the five reports on 1,000,000 report events (100,000 deals).

    .venv/bin/python bench/analytics_bench.py [--deals 100000] [--sqlite PATH] [--pg URL]

Generates a synthetic PUSK funnel (random walks through the stages with re-entries, losses,
breaches, escalations and tasks), loads it with bulk INSERTs, folds it into the analytics
tables once (timed apart: it happens once, then incrementally), and times each report over
the whole data set, the worst case, best of three. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.models import KINDS, Filters
from analytics.service import Analytics
from funnel.runtime.pipeline_loader import load_pipeline
from funnel.storage.migrate import upgrade
from funnel.storage.store import deals, notifications, report_events, tasks

PIPELINE = Path(__file__).resolve().parent.parent / "pipelines" / "pusk.yaml"
PROCESS = ["new", "in_progress", "proposal", "negotiation", "contract", "payment", "final"]
REASONS = ["too expensive", "chose a competitor", "no budget", "no answer", "postponed"]
START = datetime(2024, 1, 1, 6, tzinfo=UTC)


def generate(n_deals: int, seed: int = 7) -> tuple[list[dict[str, Any]], ...]:
    rng = random.Random(seed)
    deal_rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    task_rows: list[dict[str, Any]] = []
    for i in range(n_deals):
        deal_id = f"b{i}"
        who = f"manager{rng.randrange(50)}"
        head = f"head{int(who.removeprefix('manager')) % 5}"
        version = "v1" if rng.random() < 0.2 else "v2"
        at = START + timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
        started = at
        # A walk: mostly forward, sometimes back one stage, sometimes lost; ~5 visits.
        path: list[str] = ["new"]
        outcome = "open"
        while len(path) < 12:
            r = rng.random()
            here = PROCESS.index(path[-1])
            if r < 0.13:
                path.append("lost")
                outcome = "lost"
                break
            if r < 0.2 and here > 0:
                path.append(PROCESS[here - 1])
            elif r < 0.25:
                break  # still open
            elif here == len(PROCESS) - 1:
                path.append("won")
                outcome = "won"
                break
            else:
                path.append(PROCESS[here + 1])
        previous: str | None = None
        for seq, stage in enumerate(path, start=1):
            if previous is not None:
                events.append(
                    _event(
                        deal_id,
                        seq,
                        "exit",
                        previous,
                        "stage_exited",
                        at,
                        version,
                        {"cause": "moved", "seq": seq - 1, "to": stage},
                    )
                )
            events.append(
                _event(
                    deal_id,
                    seq,
                    "enter",
                    stage,
                    "stage_entered",
                    at,
                    version,
                    {"cause": "moved", "seq": seq, "from": previous},
                )
            )
            if stage in PROCESS and rng.random() < 0.32:
                due = at + timedelta(hours=rng.randrange(1, 72))
                events.append(
                    _event(
                        deal_id,
                        seq,
                        "breach_report",
                        stage,
                        "deadline_breached",
                        due,
                        version,
                        {"text": stage},
                    )
                )
                for person in (who, head):
                    notes.append(
                        {
                            "key": f"{deal_id}:{seq}:breach_notify:{person}",
                            "deal_id": deal_id,
                            "stage": stage,
                            "recipient": person,
                            "message": "Deadline breached",
                            "created_at": due,
                            "read": False,
                        }
                    )
            if stage == "proposal":
                deadline = at + timedelta(days=2)
                done = at + timedelta(hours=rng.randrange(1, 96)) if rng.random() < 0.8 else None
                task_rows.append({
                    "key": f"{deal_id}:{seq}:prepare_proposal_task", "deal_id": deal_id,
                    "stage": stage, "robot_id": "prepare_proposal_task", "title": "KP",
                    "description": "", "responsible": who, "co_executors": [],
                    "created_by": who, "needs_confirmation": False, "deadline_at": deadline,
                    "created_at": at, "status": "done" if done else "open",
                    "completed_by": who if done else None, "completed_at": done,
                    "confirmed_by": None,
                })  # fmt: skip
            previous = stage
            at += timedelta(minutes=rng.randrange(10, 6 * 24 * 60))
        closed = at if outcome != "open" else None
        deal_rows.append({
            "deal_id": deal_id, "title": f"Deal {deal_id}", "pipeline_id": "pusk",
            "pipeline_version": version, "stage": path[-1], "status": outcome,
            "responsible": who, "department_head": head, "service": "website",
            "amount": Decimal(rng.randrange(10, 500) * 1000), "currency": "RUB",
            "contact_name": "Client", "contact_company": None, "started_at": started,
            "closed_at": closed, "lost_reason": rng.choice(REASONS) if outcome == "lost" else None,
            "breached": False,
        })  # fmt: skip
    return deal_rows, events, notes, task_rows


def _event(
    deal_id: str,
    seq: int,
    what: str,
    stage: str,
    kind: str,
    at: datetime,
    version: str,
    details: dict[str, Any],
) -> dict[str, Any]:
    return {
        "key": f"{deal_id}:{seq}:{what}",
        "deal_id": deal_id,
        "pipeline_id": "pusk",
        "pipeline_version": version,
        "stage": stage,
        "kind": kind,
        "at": at,
        "actor": None,
        "details": details,
    }


def load(url: str, data: tuple[list[dict[str, Any]], ...]) -> float:
    upgrade(url)
    engine = sa.create_engine(url)
    began = time.perf_counter()
    with engine.begin() as conn:
        for table, rows in zip((deals, report_events, notifications, tasks), data, strict=True):
            for i in range(0, len(rows), 20_000):
                conn.execute(sa.insert(table), rows[i : i + 20_000])
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return time.perf_counter() - began


def bench(name: str, url: str, data: tuple[list[dict[str, Any]], ...]) -> dict[str, Any]:
    print(
        f"[{name}] loading {len(data[1]):,} report events, {len(data[0]):,} deals ...",
        file=sys.stderr,
    )
    load_s = load(url, data)
    analytics = Analytics(url, load_pipeline(PIPELINE))
    began = time.perf_counter()
    analytics.refresh()
    fold_s = time.perf_counter() - began
    # No ANALYZE here: after a bulk fold Analytics.refresh analyzes the derived tables itself
    # (an ANALYZE here used to be rolled back with its connection, so the figures were taken
    # without statistics anyway).
    result: dict[str, Any] = {
        "backend": name,
        "events": len(data[1]),
        "deals": len(data[0]),
        "load_s": round(load_s, 2),
        "first_fold_s": round(fold_s, 2),
    }
    began = time.perf_counter()
    analytics.refresh()
    result["refresh_nothing_new_s"] = round(time.perf_counter() - began, 4)
    filters = {
        "all": Filters(),
        "one_month": Filters(
            date_from=datetime(2025, 3, 1, tzinfo=UTC), date_to=datetime(2025, 4, 1, tzinfo=UTC)
        ),
        "one_manager": Filters(responsible="manager7"),
    }
    for label, f in filters.items():
        for kind in KINDS:
            best = min(_timed(analytics, kind, f) for _ in range(3))
            result[f"{kind}_{label}_s"] = round(best, 3)
    analytics.dispose()
    return result


def _timed(analytics: Analytics, kind: Any, filters: Filters) -> float:
    began = time.perf_counter()
    analytics.report(kind, filters)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--sqlite", default="/tmp/funnel-analytics-bench.db")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    data = generate(args.deals)
    results = []
    if args.only in (None, "sqlite"):
        for suffix in ("", "-wal", "-shm"):
            Path(args.sqlite + suffix).unlink(missing_ok=True)
        results.append(bench("sqlite", f"sqlite:///{args.sqlite}", data))
    if args.only in (None, "postgresql"):
        schema = "analytics_bench"
        engine = sa.create_engine(args.pg)
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        url = sa.make_url(args.pg).update_query_dict({"options": f"-csearch_path={schema}"})
        try:
            results.append(bench("postgresql", url.render_as_string(hide_password=False), data))
        finally:
            with engine.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            engine.dispose()
    _print(results)


def _print(results: list[dict[str, Any]]) -> None:
    keys = [k for k in results[0] if k != "backend"]
    print(f"{'figure':32}" + "".join(f"{r['backend']:>14}" for r in results))
    for key in keys:
        print(f"{key:32}" + "".join(f"{r[key]!s:>14}" for r in results))
    worst = {
        r["backend"]: max(v for k, v in r.items() if k.endswith("_s") and k.split("_")[0] in KINDS)
        for r in results
    }
    print(json.dumps({"bench": "analytics", "results": results, "worst_report_s": worst}))


if __name__ == "__main__":
    main()
