"""The pipelines pinned by the deals of this worker, held once per pipeline and version (each
pipeline of several funnels has its own versions; a deal moved to another funnel pins that
one's).

Every deal's workflow input carries its whole pipeline, and every cached workflow would keep
its own deserialized copy: with thousands of open deals on one version that copy is most of
a deal's memory. The deal workflow imports this module through
``workflow.unsafe.imports_passed_through()``, so every sandboxed run shares the one module and
the one cache. A pipeline is frozen (pydantic ``frozen=True``), so deals can share it.

The cache holds a version only while some deal refers to it (weak values): a version no
open deal runs any more is freed with its last deal.
"""

from __future__ import annotations

import threading
import weakref

from funnel.domain.pipeline import Pipeline

_lock = threading.Lock()  # workflow activations run on several threads of the worker
_pinned: weakref.WeakValueDictionary[tuple[str, str], Pipeline] = weakref.WeakValueDictionary()


def pinned(pipeline: Pipeline) -> Pipeline:
    """The worker's one object for this pipeline version: the cached one when it is equal
    to ``pipeline``, else ``pipeline`` (cached, if the version was not yet)."""
    key = (pipeline.id, pipeline.version)
    with _lock:
        held = _pinned.get(key)
        if held is None:
            _pinned[key] = pipeline
            return pipeline
    # A version string set by hand may name different content (the loader's content hash
    # never does): such a deal keeps its own copy rather than run another pipeline.
    return held if held == pipeline else pipeline


def pinned_count() -> int:
    """How many pipeline versions the worker holds now."""
    with _lock:
        return len(_pinned)
