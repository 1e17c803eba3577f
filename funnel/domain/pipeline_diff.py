"""What moving a running deal to another pipeline version would change, stage by stage
from where the deal is: the preview `funnel pipeline migrate` prints before it acts."""

from __future__ import annotations

from funnel.domain.pipeline import Pipeline, Stage


def changes_from(old: Pipeline, new: Pipeline, stage_id: str) -> list[str]:
    """Human-readable differences for the stages the deal has still to enter (its current
    stage included, whose changes apply when it next enters it)."""
    lines: list[str] = []
    start = new.index(stage_id) if new.has_stage(stage_id) else 0
    for stage in new.stages[start:]:
        if not old.has_stage(stage.id):
            lines.append(f"{stage.id}: new stage with {len(stage.robots)} robot(s)")
            continue
        lines += [f"{stage.id}: {change}" for change in _stage_changes(old.stage(stage.id), stage)]
    if old.has_stage(stage_id):
        for stage in old.stages[old.index(stage_id) :]:
            if not new.has_stage(stage.id):
                lines.append(f"{stage.id}: stage removed")
    return lines


def _stage_changes(old: Stage, new: Stage) -> list[str]:
    changes: list[str] = []
    before = {r.id: r for r in old.robots}
    after = {r.id: r for r in new.robots}
    changes += [f"+ robot {rid} ({after[rid].title})" for rid in after if rid not in before]
    changes += [f"- robot {rid} ({before[rid].title})" for rid in before if rid not in after]
    for rid in after:
        if rid in before and after[rid] != before[rid]:
            fields = sorted(
                k
                for k, v in after[rid].model_dump().items()
                if before[rid].model_dump().get(k) != v
            )
            changes.append(f"~ robot {rid}: {', '.join(fields)}")
    if old.deadline != new.deadline:
        was = old.deadline.after if old.deadline else "none"
        now = new.deadline.after if new.deadline else "none"
        changes.append(f"~ deadline {was} -> {now}" if str(was) != str(now) else "~ escalation")
    if old.triggers != new.triggers:
        changes.append("~ triggers")
    return changes
