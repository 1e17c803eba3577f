"""The pipelines new deals may run in: every pipeline file of a folder, one registry for the
CLI, the API, the reports, the workspace and the worker.

Which files (docs/pipelines.md, "Several funnels"):

- ``FUNNEL_PIPELINES`` (default: the project's ``pipelines/``): every ``*.yaml``/``*.yml``
  file of that folder, in file name order; the first is the default pipeline;
- ``FUNNEL_PIPELINE`` alone: that one file, as before there were several;
- both: the folder's files and that file (if it lies elsewhere), which is the default.

A folder holding a broken file, two files of one pipeline id, or a ``move_to_funnel`` robot
naming a pipeline or stage the folder does not have is refused, the file named. Read anew by
each caller that starts deals: a new deal gets the files as they are now; running deals keep
the version they pinned.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from funnel.domain.funnels import target_stage_problem
from funnel.domain.pipeline import Pipeline
from funnel.runtime.pipeline_loader import PipelineError, load_pipeline
from funnel.runtime.settings import DEFAULT_PIPELINES, Settings

PATTERNS = ("*.yaml", "*.yml")


class UnknownPipeline(PipelineError):
    """A pipeline id that no loaded file has; the message lists those that are."""


@dataclass(frozen=True)
class Loaded:
    pipeline: Pipeline
    path: Path | None  # None: given in code (tests, the simulator)


class Pipelines:
    """The loaded pipelines by id, in file name order; ``default`` is what a new deal that
    names none gets."""

    def __init__(self, loaded: list[Loaded], default: str | None = None) -> None:
        if not loaded:
            raise PipelineError("no pipeline loaded")
        self._by_id: dict[str, Loaded] = {}
        for entry in loaded:
            earlier = self._by_id.get(entry.pipeline.id)
            if earlier is not None:
                raise PipelineError(
                    f"{entry.path}: pipeline id {entry.pipeline.id!r} is already the id of"
                    f" {earlier.path}: each pipeline file needs its own id"
                )
            self._by_id[entry.pipeline.id] = entry
        self._default = default or loaded[0].pipeline.id
        self.get(self._default)
        for entry in loaded:
            _check_funnel_moves(entry, self)

    @classmethod
    def of(cls, *pipelines: Pipeline) -> Pipelines:
        """Pipelines given in code; the first is the default."""
        return cls([Loaded(p, None) for p in pipelines])

    @classmethod
    def from_settings(cls, settings: Settings) -> Pipelines:
        """What FUNNEL_PIPELINES and FUNNEL_PIPELINE name (see the module's text)."""
        return cls.from_files(*_files(settings))

    @classmethod
    def from_files(cls, paths: list[Path], default_file: Path | None) -> Pipelines:
        loaded = [Loaded(load_pipeline(path), path) for path in paths]
        default = None
        if default_file is not None:
            file = default_file.resolve()
            default = next(e.pipeline.id for e in loaded if e.path and e.path.resolve() == file)
        return cls(loaded, default)

    @property
    def default(self) -> Pipeline:
        return self._by_id[self._default].pipeline

    @property
    def ids(self) -> list[str]:
        return list(self._by_id)

    def get(self, pipeline_id: str | None) -> Pipeline:
        """The pipeline with this id (None: the default one)."""
        if pipeline_id is None:
            return self.default
        found = self._by_id.get(pipeline_id)
        if found is None:
            raise UnknownPipeline(
                f"unknown pipeline {pipeline_id!r}; the pipelines are: {', '.join(self.ids)}"
            )
        return found.pipeline

    def path_of(self, pipeline_id: str) -> Path | None:
        self.get(pipeline_id)
        return self._by_id[pipeline_id].path

    def __iter__(self) -> Iterator[Pipeline]:
        return (entry.pipeline for entry in self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, pipeline_id: object) -> bool:
        return pipeline_id in self._by_id

    def stage_names(self, language: str) -> dict[str, str]:
        """Stage id -> name in ``language`` over every pipeline; the default pipeline's name
        where two pipelines share a stage id."""
        names: dict[str, str] = {}
        for pipeline in [*reversed(list(self)), self.default]:
            names.update({stage.id: stage.name_in(language) for stage in pipeline.stages})
        return names


def _files(settings: Settings) -> tuple[list[Path], Path | None]:
    """The pipeline files the settings name, and the one that is the default (None: the
    first)."""
    one = settings.pipeline
    if one is not None and settings.pipelines is None:
        return [one], one
    paths = folder_files(settings.pipelines or DEFAULT_PIPELINES)
    if one is not None and all(p.resolve() != one.resolve() for p in paths):
        paths.append(one)
    return paths, one


_held: dict[tuple[object, ...], Pipelines] = {}
_held_lock = threading.Lock()


def current_pipelines(settings: Settings) -> Pipelines:
    """As :meth:`Pipelines.from_settings`, parsed again only when a file is added, removed
    or changed (parsing checks every template: too slow for every page a person opens)."""
    paths, default = _files(settings)
    try:
        stamp: tuple[object, ...] = (
            default,
            *((path, path.stat().st_mtime_ns, path.stat().st_size) for path in paths),
        )
    except OSError:
        return Pipelines.from_files(paths, default)  # says which file cannot be read
    with _held_lock:
        held = _held.get(stamp)
    if held is None:
        held = Pipelines.from_files(paths, default)
        with _held_lock:
            if len(_held) >= 8:  # files edited again and again: keep what they are now
                _held.clear()
            _held[stamp] = held
    return held


def folder_files(folder: Path) -> list[Path]:
    """The pipeline files of ``folder``, in file name order."""
    if not folder.is_dir():
        raise PipelineError(f"{folder}: not a folder of pipeline files (FUNNEL_PIPELINES)")
    paths = sorted({p for pattern in PATTERNS for p in folder.glob(pattern)}, key=lambda p: p.name)
    if not paths:
        raise PipelineError(f"{folder}: holds no pipeline file (*.yaml)")
    return paths


def load_settings_pipelines() -> Pipelines:
    """The pipelines of the environment's settings (the worker's robots move deals to them)."""
    return Pipelines.from_settings(Settings())


def lead_pipeline_problem(settings: Settings, pipelines: Pipelines) -> str | None:
    """A lead form configured for a pipeline that is not loaded (FUNNEL_LEAD_PIPELINES)."""
    wrong = {source: id for source, id in settings.lead_pipelines.items() if id not in pipelines}
    if not wrong:
        return None
    named = ", ".join(f"{source!r} -> {id!r}" for source, id in sorted(wrong.items()))
    return (
        f"FUNNEL_LEAD_PIPELINES names unknown pipelines ({named}); the pipelines are:"
        f" {', '.join(pipelines.ids)}"
    )


def funnel_move_problems(pipeline: Pipeline, pipelines: Pipelines) -> list[str]:
    """Each ``move_to_funnel`` robot of ``pipeline`` whose target ``pipelines`` lacks: an
    unknown pipeline, or a stage that is not a process stage of it."""
    problems: list[str] = []
    for stage in pipeline.stages:
        for robot in stage.funnel_moves():
            where = f"stage {stage.id!r}, robot {robot.id!r}"
            if robot.pipeline not in pipelines:
                problems.append(
                    f"{where}, field 'pipeline': unknown pipeline {robot.pipeline!r}"
                    f" (the pipelines are: {', '.join(pipelines.ids)})"
                )
                continue
            problem = target_stage_problem(pipelines.get(robot.pipeline), robot.stage)
            if problem is not None:
                problems.append(f"{where}, field 'stage': {problem}")
    return problems


def _check_funnel_moves(entry: Loaded, pipelines: Pipelines) -> None:
    problems = funnel_move_problems(entry.pipeline, pipelines)
    if problems:
        raise PipelineError(f"{entry.path or entry.pipeline.id}: " + "; ".join(problems))
