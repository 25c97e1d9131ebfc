"""Load a YAML file into a pydantic model, with errors that name file, line and field.

Both config files (monitor.yaml, watchlist.yaml) go through `load_model`, so
every config error a user sees has the same shape:

    config/monitor.yaml:12: feeds[3].interval: expected a duration like 90s, 10m, 1h (got '5 minutes')
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of every config model: a typo in a key is an error, not a silently ignored
    setting, and a loaded config is immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ConfigError(Exception):
    """One or more problems in a config file; str() gives one line per problem."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def interpolate_env(value: str, environ: dict[str, str] | None = None) -> str:
    """Replace ${VAR} and ${VAR:-default}; an unset ${VAR} without default becomes ''."""
    env = os.environ if environ is None else environ

    def replace(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        found = env.get(name)
        if found:  # like the shell, ':-' also covers set-but-empty
            return found
        return default if default is not None else ""

    return _ENV_REF.sub(replace, value)


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping key and sequence item."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = {}
    lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise yaml.constructor.ConstructorError(
                None, None, "mapping keys must be plain values", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        lines[key] = key_node.start_mark.line + 1
    return _LinedDict(mapping, lines, node.start_mark.line + 1)


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> list:
    items = [loader.construct_object(child, deep=True) for child in node.value]
    return _LinedList(items, [child.start_mark.line + 1 for child in node.value], node.start_mark.line + 1)


def _construct_str(loader: _LineLoader, node: yaml.ScalarNode) -> str:
    return interpolate_env(loader.construct_scalar(node))


class _LinedDict(dict):
    def __init__(self, data: dict, key_lines: dict, line: int):
        super().__init__(data)
        self.key_lines = key_lines
        self.line = line


class _LinedList(list):
    def __init__(self, data: list, item_lines: list[int], line: int):
        super().__init__(data)
        self.item_lines = item_lines
        self.line = line


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG, _construct_str)


def _line_of(root: Any, loc: tuple) -> int | None:
    """Best line for a pydantic error location: the deepest key/item that exists."""
    node, line = root, getattr(root, "line", None)
    for part in loc:
        if isinstance(node, _LinedDict) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, _LinedList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line


def _field_path(loc: tuple) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and not part.startswith(("function-", "tagged-union")):
            path += f".{part}" if path else part
    return path


def problem_at(file: str, data: Any, loc: tuple, message: str) -> ConfigProblem:
    """A problem at a location (keys and indexes) of parsed YAML, with its line."""
    return ConfigProblem(file, _line_of(data, loc), _field_path(loc), message)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file with env interpolation; raise ConfigError on I/O or syntax errors."""
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(shown, None, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(shown, None, "", f"cannot read: {exc}")]) from None
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigProblem(shown, line, "", f"invalid YAML: {problem}")]) from None


def validate_model(model: type[ModelT], data: Any, path: Path, context: dict | None = None) -> ModelT:
    """Validate parsed YAML into `model`; pydantic errors become ConfigError with lines."""
    shown = str(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(shown, 1, "", "expected a mapping of keys at the top level")])
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            message = err["msg"]
            if message.startswith("Value error, "):
                message = message[len("Value error, ") :]
            if err["type"] == "extra_forbidden":
                message = "unknown key (check the spelling)"
            elif err["type"] == "missing":
                message = "required key is missing"
            elif "input" in err and err["type"] not in ("missing",) and not isinstance(err["input"], (dict, list)):
                message = f"{message} (got {err['input']!r})"
            problems.append(problem_at(shown, data, loc, message))
        raise ConfigError(problems) from None


def load_model(model: type[ModelT], path: Path, context: dict | None = None) -> ModelT:
    return validate_model(model, read_yaml(path), path, context)
