"""One validation, two sinks: the first problem raised (serve, reload) or every problem gathered (check)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from crabllm.config import validate as validate_module
from crabllm.config.loader import check_config, parse_config
from crabllm.config.problems import Problems
from crabllm.errors import ConfigError

BAD = """\
[providers.p]
kind = "openai"
wieght = 1
timeout = "x"
[[keys]]
name = "k"
key = "short"
[aliases]
a = "nope"
"""


def test_check_gathers_what_parse_raises_first(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(BAD)
    config, problems = check_config(path, env={})
    assert config is None
    assert [p.path for p in problems] == ["providers.p.wieght", "providers.p.timeout", "keys[0].key", "aliases.a"]
    with pytest.raises(ConfigError) as first:
        parse_config(BAD, file=str(path), env={})
    assert str(first.value) == str(problems[0])


def test_a_valid_file_has_no_problems(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[providers.m]\nkind = "mock"\nmodels = ["m"]\n')
    config, problems = check_config(path, env={})
    assert problems == [] and config is not None and config.providers["m"].models == ["m"]


def test_problems_sink() -> None:
    fail_fast = Problems()
    with pytest.raises(ConfigError):
        fail_fast.add(ConfigError("x", path="a"))
    sink = Problems(collect=True)
    sink.quiet(["providers.p.api_key"])
    sink.add(ConfigError("follows from a missing variable", path="providers.p.api_key"))
    sink.add(ConfigError("shown", path="providers.p.api_keys"))

    def raising_check():  # a check written in the raise style still reports, and ends only itself
        yield ConfigError("first", path="b")
        raise ConfigError("second", path="c")

    sink.run(raising_check())
    sink.add(ConfigError("first", path="b"))  # reported once
    assert [e.path for e in sink.errors] == ["providers.p.api_keys", "b", "c"]


def test_every_check_generator_is_consumed() -> None:
    """A check called without `yield from` would silently check nothing."""
    tree = ast.parse(Path(validate_module.__file__).read_text())
    functions = [f for f in tree.body if isinstance(f, ast.FunctionDef)]
    generators = {f.name for f in functions if any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in ast.walk(f))}
    bare = []
    for f in functions:
        if f.name == "validate":
            continue
        consumed = {id(n.value) for n in ast.walk(f) if isinstance(n, ast.YieldFrom)}
        bare += [f"{f.name}:{n.lineno}" for n in ast.walk(f)
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in generators
                 and id(n) not in consumed]
    assert bare == []
    validate_src = ast.unparse(next(f for f in functions if f.name == "validate"))
    unused = [g for g in generators if g.startswith("_validate_") and g not in validate_src
              and not any(g in ast.unparse(f) for f in functions if f.name != g)]
    assert unused == [], "a check that validate() never runs"
