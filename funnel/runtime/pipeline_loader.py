"""Load a pipeline file, refusing a wrong one with an error that names the file, the stage
and the field. Kept apart from :mod:`funnel.domain.pipeline` because it needs YAML and jinja2,
which the workflow sandbox has no use for."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from funnel.domain.calendar import country_problem
from funnel.domain.pipeline import Pipeline, Stage, TaskTemplate
from funnel.domain.templates import TemplateProblem, check_template


class PipelineError(ValueError):
    """A pipeline file that cannot be used; the message names file, stage and field."""


def load_pipeline(path: str | Path) -> Pipeline:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PipelineError(f"{path}: cannot read the pipeline file: {exc.strerror}") from exc
    return parse_pipeline(text, source=str(path))


def parse_pipeline(text: str, *, source: str) -> Pipeline:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PipelineError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PipelineError(f"{source}: the file must be a mapping with id, name and stages")
    # Top-level keys starting with "x-" hold YAML anchors (shared robot lists), as in
    # docker-compose files; they are not part of the schema.
    data = {k: v for k, v in data.items() if not str(k).startswith("x-")}
    try:
        pipeline = Pipeline.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(error, data) for error in exc.errors()]
        raise PipelineError(f"{source}: " + "; ".join(problems)) from exc
    problems = list(_template_problems(pipeline))
    calendar_problem = country_problem(pipeline.calendar)
    if calendar_problem:
        problems.append(f"calendar, field 'country': {calendar_problem}")
    if problems:
        raise PipelineError(f"{source}: " + "; ".join(problems))
    if not pipeline.version:
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        pipeline = pipeline.model_copy(update={"version": digest})
    return pipeline


def _describe(error: Any, data: dict[str, Any]) -> str:
    """Turn a pydantic location such as ('stages', 2, 'robots', 0, 'notify', 'message')
    into "stage 'proposal', robot 'notify_new', field 'message'"."""
    loc = list(error["loc"])
    where: list[str] = []
    node: Any = data
    fields: list[str] = []
    i = 0
    while i < len(loc):
        part = loc[i]
        nxt = loc[i + 1] if i + 1 < len(loc) else None
        if part in ("stages", "robots", "escalate") and isinstance(nxt, int):
            node = node.get(part, []) if isinstance(node, dict) else []
            item = node[nxt] if isinstance(node, list) and nxt < len(node) else {}
            label = {"stages": "stage", "robots": "robot", "escalate": "escalation robot"}[part]
            ident = item.get("id") if isinstance(item, dict) else None
            where.append(f"{label} {ident!r}" if ident else f"{label} #{nxt + 1}")
            node = item
            i += 2
            # pydantic adds the union tag ('notify', 'set_title', ...) after a robot index
            tagged = part in ("robots", "escalate") and i < len(loc) and isinstance(node, dict)
            if tagged and loc[i] == node.get("type"):
                i += 1
            continue
        if isinstance(node, dict):
            node = node.get(part, {}) if isinstance(part, str) else {}
        fields.append(str(part))
        i += 1
    place = ", ".join(where)
    message = str(error["msg"]).removeprefix("Value error, ")
    if not fields and not place:
        return message  # a whole-pipeline check, whose message names its own place
    if error["type"] == "union_tag_invalid":
        message = f"unknown robot type {error['input'].get('type')!r}; " + message
    field = ".".join(fields) or "(whole entry)"
    return f"{place + ', ' if place else ''}field {field!r}: {message}"


def _template_problems(pipeline: Pipeline) -> Iterator[str]:
    for stage in pipeline.stages:
        for robot in _all_robots(stage):
            for field_name in (
                "template",
                "message",
                "subject",
                "task_title",
                "description",
                "details",
            ):
                yield from _check(stage, f"robot {robot.id!r}", robot, field_name)
        for service, templates in stage.task_sets.items():
            for template in templates:
                where = f"task set {service!r} task {template.id!r}"
                yield from _check(stage, where, template, "title")
                yield from _check(stage, where, template, "description")


def _all_robots(stage: Stage) -> list[Any]:
    escalation = stage.deadline.escalate if stage.deadline else []
    return [*stage.robots, *escalation]


def _check(stage: Stage, where: str, model: BaseModel | TaskTemplate, field: str) -> Iterator[str]:
    source = getattr(model, field, None)
    if not isinstance(source, str):
        return
    try:
        check_template(source)
    except TemplateProblem as exc:
        yield f"stage {stage.id!r}, {where}, field {field!r}: {exc}"
