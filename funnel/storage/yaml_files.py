"""The YAML files the company keeps next to its pipeline (the employee directory, the
requisites invoices print), read with one wording of what is wrong with them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class YamlFileError(ValueError):
    """The file cannot be read, or is not YAML: the message names the file."""


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise YamlFileError(f"{path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise YamlFileError(f"{path}: not valid YAML: {exc}") from exc
