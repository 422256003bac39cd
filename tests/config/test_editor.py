"""Round trips through the config editor: comments, untouched bytes, ${VAR}, 0600, atomicity, one writer."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
import tempfile
import threading
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crabllm.config.editor import ConfigEditor
from crabllm.errors import ConfigError, Conflict, InvalidRequest, NotFound

REPO = Path(__file__).resolve().parents[2]

SAMPLE = '''\
# crabllm gateway configuration
# Edited by hand and through the admin API.

listen = "0.0.0.0:8080"  # bind address
admin_token = "${CRABLLM_ADMIN_TOKEN}"
storage = { kind = "sqlite", path = "crabllm.db" }  # persistent counters

# Primary OpenAI account.
[providers.openai]
kind = "openai"
api_key = "${OPENAI_API_KEY}"  # never commit the key itself
models = [
    "gpt-4o",       # flagship
    "gpt-4o-mini",
]
weight = 3

# Cheaper fallback through OpenRouter.
[providers.backup]
kind = "openrouter"   # custom kind -> OpenAI-compatible
base_url = "https://openrouter.ai/api/v1"
api_key = "${OPENROUTER_API_KEY}"
models = ["gpt-4o"]
max_retries = 0
# timeout = 60   (disabled while we measure)

[providers.claude]
kind = "anthropic"
api_key = "${ANTHROPIC_API_KEY}"
models = ["claude-sonnet-4-20250514"]

# ---- model aliases ----
[aliases]
gpt4 = "gpt-4o"        # legacy name
sonnet = "claude-sonnet-4-20250514"

# Team keys: one entry per team.
[[keys]]
name = "team-a"
key = "${TEAM_A_KEY}"
models = ["gpt-4o"]
rate_limit = { requests_per_minute = 30 }  # inline limits

[[keys]]
name = "team-b"
key_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
models = ["*"]

# Prices in USD per million tokens.
[models."gpt-4o".pricing]
prompt_cost_per_million = 2.5
completion_cost_per_million = 10.0  # output is 4x

[extensions.usage]
# (no options)
'''

BACKUP = '''\
# Cheaper fallback through OpenRouter.
[providers.backup]
kind = "openrouter"   # custom kind -> OpenAI-compatible
base_url = "https://openrouter.ai/api/v1"
api_key = "${OPENROUTER_API_KEY}"
models = ["gpt-4o"]
max_retries = 0
# timeout = 60   (disabled while we measure)

'''

TEAM_B = '''\
[[keys]]
name = "team-b"
key_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
models = ["*"]

'''


def comments(text: str) -> list[str]:
    return re.findall(r"#.*", text)  # SAMPLE has no '#' inside strings


def regions(text: str) -> dict[str, str]:
    """Text per header line ("" = before the first header); comments glued above a header go with it."""
    out: dict[str, list[str]] = {"": []}
    seen: dict[str, int] = {}
    current = ""
    for line in text.splitlines(keepends=True):
        if line.startswith("["):
            glued: list[str] = []
            while out[current] and out[current][-1].startswith("#"):
                glued.insert(0, out[current].pop())
            seen[line.strip()] = seen.get(line.strip(), 0) + 1  # repeated [[keys]] are numbered
            current = line.strip() + ("" if seen[line.strip()] == 1 else f"#{seen[line.strip()]}")
            out[current] = glued
        out[current].append(line)
    return {k: "".join(v) for k, v in out.items()}


def assert_untouched(before: str, after: str, *, changed: set[str] = frozenset(), gone: set[str] = frozenset()) -> None:
    old, new = regions(before), regions(after)
    for header, text in old.items():
        if header in gone:
            assert header not in new
        elif header not in changed:
            assert new[header] == text, f"region {header!r} changed"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "crabllm.toml"
    path.write_text(SAMPLE, encoding="utf-8")
    path.chmod(0o644)
    return path


def test_sample_has_no_hash_inside_strings() -> None:
    assert "#" not in str(tomllib.loads(SAMPLE))
    assert len(comments(SAMPLE)) == 17


def test_read_raw_is_plain_and_unexpanded(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-secret")
    raw = ConfigEditor(cfg).read_raw()
    assert raw == tomllib.loads(SAMPLE)
    assert raw["providers"]["openai"]["api_key"] == "${OPENAI_API_KEY}"
    assert type(raw["providers"]) is dict


def test_update_provider_merges_and_touches_only_its_lines(cfg: Path) -> None:
    ConfigEditor(cfg).upsert_provider("openai", {"weight": 5, "timeout": 60}, create=False)
    after = cfg.read_text()
    assert after == SAMPLE.replace("weight = 3\n", "weight = 5\ntimeout = 60\n")
    assert comments(after) == comments(SAMPLE)
    assert_untouched(SAMPLE, after, changed={"[providers.openai]"})
    assert 'api_key = "${OPENAI_API_KEY}"  # never commit the key itself' in after
    assert mode(cfg) == 0o600


def test_update_keeps_the_comment_beside_a_replaced_value(cfg: Path) -> None:
    ConfigEditor(cfg).upsert_provider("backup", {"kind": "openai-compatible"}, create=False)
    assert cfg.read_text() == SAMPLE.replace('kind = "openrouter"   #', 'kind = "openai-compatible"   #')


def test_update_with_none_removes_the_field_only(cfg: Path) -> None:
    ConfigEditor(cfg).upsert_provider("backup", {"max_retries": None, "absent": None}, create=False)
    after = cfg.read_text()
    assert after == SAMPLE.replace("max_retries = 0\n", "")
    assert comments(after) == comments(SAMPLE)


def test_update_with_unchanged_values_does_not_rewrite(cfg: Path) -> None:
    before = cfg.stat()
    ConfigEditor(cfg).upsert_provider("openai", {"weight": 3, "api_key": "${OPENAI_API_KEY}"}, create=False)
    assert cfg.read_text() == SAMPLE
    assert (cfg.stat().st_ino, cfg.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_types_are_not_confused_when_comparing(cfg: Path) -> None:
    ConfigEditor(cfg).upsert_provider("openai", {"weight": 3.0}, create=False)
    assert "weight = 3.0\n" in cfg.read_text()


def test_env_references_are_written_as_given_never_expanded(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEW_OPENAI_KEY", "sk-must-not-appear")
    ConfigEditor(cfg).upsert_provider("openai", {"api_key": "${NEW_OPENAI_KEY}"}, create=False)
    after = cfg.read_text()
    assert 'api_key = "${NEW_OPENAI_KEY}"  # never commit the key itself\n' in after
    assert "sk-must-not-appear" not in after
    for var in ("${CRABLLM_ADMIN_TOKEN}", "${OPENROUTER_API_KEY}", "${ANTHROPIC_API_KEY}", "${TEAM_A_KEY}"):
        assert var in after


def test_create_provider_goes_after_the_last_provider_table(cfg: Path) -> None:
    fields = {"kind": "mistral", "base_url": "https://api.mistral.ai/v1", "api_key": "${MISTRAL_API_KEY}",
              "models": ["mistral-large"], "weight": 2, "skip": None}
    ConfigEditor(cfg).upsert_provider("mistral", fields, create=True)
    after = cfg.read_text()
    new = ('[providers.mistral]\nkind = "mistral"\nbase_url = "https://api.mistral.ai/v1"\n'
           'api_key = "${MISTRAL_API_KEY}"\nmodels = ["mistral-large"]\nweight = 2\n\n')
    assert after == SAMPLE.replace("# ---- model aliases ----\n", new + "# ---- model aliases ----\n")
    assert_untouched(SAMPLE, after)
    assert ConfigEditor(cfg).read_raw()["providers"]["mistral"]["api_key"] == "${MISTRAL_API_KEY}"


@pytest.mark.parametrize("name, header", [
    ("eu.west", '[providers."eu.west"]'),
    ("with space", '[providers."with space"]'),
    ('q"uote', '[providers."q\\"uote"]'),
    ("plain-name_1", "[providers.plain-name_1]"),
])
def test_create_provider_quotes_names(cfg: Path, name: str, header: str) -> None:
    ConfigEditor(cfg).upsert_provider(name, {"kind": "openai"}, create=True)
    after = cfg.read_text()
    assert header + "\n" in after
    assert ConfigEditor(cfg).read_raw()["providers"][name] == {"kind": "openai"}
    assert comments(after) == comments(SAMPLE)


def test_create_update_delete_errors_leave_the_file_alone(cfg: Path) -> None:
    editor = ConfigEditor(cfg)
    with pytest.raises(Conflict, match="provider 'openai' already exists"):
        editor.upsert_provider("openai", {"kind": "openai"}, create=True)
    with pytest.raises(NotFound, match="provider 'nope' not found"):
        editor.upsert_provider("nope", {"kind": "openai"}, create=False)
    with pytest.raises(NotFound, match="provider 'nope' not found"):
        editor.delete_provider("nope")
    with pytest.raises(NotFound):
        editor.delete_alias("nope")
    with pytest.raises(NotFound):
        editor.update_key("nope", {"models": []})
    with pytest.raises(Conflict):
        editor.add_key({"name": "team-a", "key": "x"})
    with pytest.raises(Conflict):
        editor.update_key("team-a", {"name": "team-b"})
    assert cfg.read_text() == SAMPLE
    assert mode(cfg) == 0o644


@pytest.mark.parametrize("call", [
    lambda e: e.upsert_provider("", {"kind": "x"}, create=True),
    lambda e: e.upsert_provider("x", {"models": ["a", None]}, create=True),
    lambda e: e.upsert_provider("x", {"weight": float("nan")}, create=True),
    lambda e: e.upsert_provider("x", {"weight": object()}, create=True),
    lambda e: e.upsert_provider("x", ["kind"], create=True),
    lambda e: e.set_alias("a", ""),
    lambda e: e.set_model_pricing("m", -1, 2),
    lambda e: e.set_model_pricing("m", True, 2),
    lambda e: e.add_key({"key": "no-name"}),
    lambda e: e.update_key("team-a", {"name": None}),
])
def test_bad_input_is_rejected_before_any_write(cfg: Path, call: Any) -> None:
    with pytest.raises(InvalidRequest):
        call(ConfigEditor(cfg))
    assert cfg.read_text() == SAMPLE


def test_delete_provider_removes_its_section_and_nothing_else(cfg: Path) -> None:
    ConfigEditor(cfg).delete_provider("backup")
    after = cfg.read_text()
    assert after == SAMPLE.replace(BACKUP, "")
    assert comments(after) == [c for c in comments(SAMPLE) if c not in comments(BACKUP)]
    assert_untouched(SAMPLE, after, gone={"[providers.backup]"})


def test_delete_drops_comments_glued_to_the_deleted_table_only(cfg: Path) -> None:
    ConfigEditor(cfg).delete_key("team-a")
    after = cfg.read_text()
    # The comment directly above [[keys]] describes that entry; one after a blank line would stay.
    assert "# Team keys" not in after and "# inline limits" not in after
    assert comments(after) == [c for c in comments(SAMPLE) if c not in ("# Team keys: one entry per team.", "# inline limits")]
    assert ConfigEditor(cfg).read_raw()["keys"] == [tomllib.loads(SAMPLE)["keys"][1]]


def test_aliases_set_update_delete(cfg: Path) -> None:
    editor = ConfigEditor(cfg)
    editor.set_alias("gpt-4", "gpt-4o")
    step1 = SAMPLE.replace('sonnet = "claude-sonnet-4-20250514"\n', 'sonnet = "claude-sonnet-4-20250514"\ngpt-4 = "gpt-4o"\n')
    assert cfg.read_text() == step1
    editor.set_alias("gpt4", "gpt-4o-mini")
    step2 = step1.replace('gpt4 = "gpt-4o"        # legacy name', 'gpt4 = "gpt-4o-mini"        # legacy name')
    assert cfg.read_text() == step2
    editor.delete_alias("sonnet")
    after = cfg.read_text()
    assert after == step2.replace('sonnet = "claude-sonnet-4-20250514"\n', "")
    assert comments(after) == comments(SAMPLE)
    assert_untouched(SAMPLE, after, changed={"[aliases]"})
    assert editor.read_raw()["aliases"] == {"gpt4": "gpt-4o-mini", "gpt-4": "gpt-4o"}


def test_alias_table_is_created_when_missing(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('listen = "127.0.0.1:5632"  # local only\n')
    ConfigEditor(path).set_alias("a.b", "gpt-4o")
    assert path.read_text() == 'listen = "127.0.0.1:5632"  # local only\n\n[aliases]\n"a.b" = "gpt-4o"\n'


def test_keys_add_update_delete(cfg: Path) -> None:
    editor = ConfigEditor(cfg)
    editor.add_key({"name": "team-c", "key": "${TEAM_C_KEY}", "models": ["*"], "rate_limit": {"requests_per_minute": 5}})
    new = '[[keys]]\nname = "team-c"\nkey = "${TEAM_C_KEY}"\nmodels = ["*"]\nrate_limit = {requests_per_minute = 5}\n\n'
    step1 = SAMPLE.replace("# Prices in USD", new + "# Prices in USD")
    assert cfg.read_text() == step1
    editor.update_key("team-a", {"rate_limit": {"tokens_per_minute": 1000}, "models": ["gpt-4o", "gpt-4o-mini"]})
    step2 = step1.replace('models = ["gpt-4o"]\nrate_limit = { requests_per_minute = 30 }  # inline limits',
                          'models = ["gpt-4o", "gpt-4o-mini"]\n'
                          'rate_limit = { requests_per_minute = 30, tokens_per_minute = 1000}  # inline limits')
    assert cfg.read_text() == step2
    assert editor.read_raw()["keys"][0]["rate_limit"] == {"requests_per_minute": 30, "tokens_per_minute": 1000}
    editor.delete_key("team-b")
    after = cfg.read_text()
    assert after == step2.replace(TEAM_B, "")
    assert comments(after) == comments(SAMPLE)
    assert [k["name"] for k in editor.read_raw()["keys"]] == ["team-a", "team-c"]
    assert_untouched(SAMPLE, after, changed={"[[keys]]", "[[keys]]#2"})


def test_key_sub_table_is_merged_in_place(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[keys]]\nname = "a"\n\n[keys.rate_limit]  # per key\nrequests_per_minute = 3\n\n[[keys]]\nname = "b"\n')
    ConfigEditor(path).update_key("a", {"rate_limit": {"tokens_per_minute": 9}})
    assert path.read_text() == ('[[keys]]\nname = "a"\n\n[keys.rate_limit]  # per key\nrequests_per_minute = 3\n'
                                'tokens_per_minute = 9\n\n[[keys]]\nname = "b"\n')
    ConfigEditor(path).delete_key("a")
    assert path.read_text() == '[[keys]]\nname = "b"\n'


def test_pricing_update_and_new_model(cfg: Path) -> None:
    editor = ConfigEditor(cfg)
    editor.set_model_pricing("gpt-4o", 3, 12.5)
    step1 = SAMPLE.replace("prompt_cost_per_million = 2.5\ncompletion_cost_per_million = 10.0  #",
                           "prompt_cost_per_million = 3.0\ncompletion_cost_per_million = 12.5  #")
    assert cfg.read_text() == step1
    editor.set_model_pricing("gpt-4o-mini", 0.15, 0.6)
    new = '[models.gpt-4o-mini.pricing]\nprompt_cost_per_million = 0.15\ncompletion_cost_per_million = 0.6\n\n'
    after = cfg.read_text()
    assert after == step1.replace("[extensions.usage]", new + "[extensions.usage]")
    assert comments(after) == comments(SAMPLE)
    assert editor.read_raw()["models"]["gpt-4o-mini"] == {
        "pricing": {"prompt_cost_per_million": 0.15, "completion_cost_per_million": 0.6}}


def test_model_info_gets_its_own_header_above_the_pricing_table(cfg: Path) -> None:
    ConfigEditor(cfg).set_model_info("gpt-4o", {"context_length": 128000, "vision": True})
    after = cfg.read_text()
    new = '[models.gpt-4o]\ncontext_length = 128000\nvision = true\n\n'
    assert after == SAMPLE.replace("# Prices in USD", new + "# Prices in USD")
    assert ConfigEditor(cfg).read_raw()["models"]["gpt-4o"]["pricing"]["prompt_cost_per_million"] == 2.5


def test_new_file_is_created_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "new.toml"
    editor = ConfigEditor(path)
    assert editor.read_raw() == {}
    editor.upsert_provider("openai", {"kind": "openai", "api_key": "${OPENAI_API_KEY}"}, create=True)
    editor.set_alias("gpt4", "gpt-4o")
    editor.add_key({"name": "k", "key": "${K}"})
    assert mode(path) == 0o600
    assert path.read_text() == ('[providers.openai]\nkind = "openai"\napi_key = "${OPENAI_API_KEY}"\n\n'
                                '[aliases]\ngpt4 = "gpt-4o"\n\n[[keys]]\nname = "k"\nkey = "${K}"\n')
    # Only the config and the sidecar lock: no temp file left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == [".new.toml.lock", "new.toml"]


def test_mode_0600_is_kept(cfg: Path) -> None:
    cfg.chmod(0o600)
    ConfigEditor(cfg).set_alias("x", "y")
    assert mode(cfg) == 0o600


def test_symlinked_config_is_edited_through_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real.toml"
    real.write_text(SAMPLE)
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    ConfigEditor(link).set_alias("x", "y")
    assert link.is_symlink()
    assert tomllib.loads(real.read_text())["aliases"]["x"] == "y"


def test_failed_validation_leaves_the_file_byte_identical(cfg: Path) -> None:
    seen: list[dict[str, Any]] = []

    def reject(raw: dict[str, Any]) -> None:
        seen.append(raw)
        raise ConfigError("provider 'mistral' has no models", path="providers.mistral.models")

    before = cfg.stat()
    editor = ConfigEditor(cfg, validate=reject)
    with pytest.raises(ConfigError, match="has no models"):
        editor.upsert_provider("mistral", {"kind": "mistral"}, create=True)
    with pytest.raises(ConfigError):
        editor.delete_provider("openai")
    assert cfg.read_bytes() == SAMPLE.encode()
    assert (cfg.stat().st_ino, mode(cfg)) == (before.st_ino, 0o644)
    assert seen[0]["providers"]["mistral"] == {"kind": "mistral"}
    assert "openai" not in seen[1]["providers"]
    assert sorted(p.name for p in cfg.parent.iterdir()) == [".crabllm.toml.lock", "crabllm.toml"]


def test_validation_hook_sees_the_edited_raw_document(cfg: Path) -> None:
    seen: list[dict[str, Any]] = []
    ConfigEditor(cfg, validate=seen.append).set_model_pricing("gpt-4o", 1, 2)
    assert seen == [tomllib.loads(cfg.read_text())]
    assert seen[0]["providers"]["openai"]["api_key"] == "${OPENAI_API_KEY}"


def test_refuses_to_edit_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[providers.a\nkind = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        ConfigEditor(path).set_alias("x", "y")
    assert path.read_text() == "[providers.a\nkind = 1\n"


def test_inline_providers_stay_inline(tmp_path: Path) -> None:
    head = "# providers declared inline\n"
    tail = '\n[aliases]\nx = "y"  # kept\n'
    path = tmp_path / "c.toml"
    path.write_text(head + 'providers = { a = { kind = "openai", api_key = "${K}" }, b = { kind = "x" } }  # inline\n' + tail)
    editor = ConfigEditor(path)
    editor.upsert_provider("c.d", {"kind": "new"}, create=True)
    editor.upsert_provider("a", {"weight": 2}, create=False)
    editor.delete_provider("b")
    text = path.read_text()
    assert text.startswith(head) and text.endswith(tail) and "  # inline\n" in text
    assert "${K}" in text
    assert editor.read_raw()["providers"] == {"a": {"kind": "openai", "api_key": "${K}", "weight": 2}, "c.d": {"kind": "new"}}


def test_inline_keys_array_stays_inline(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('keys = [\n  { name = "a", key = "${A}" },  # first\n  { name = "b", key = "${B}" },\n]\n')
    editor = ConfigEditor(path)
    editor.add_key({"name": "c", "key": "${C}"})
    editor.delete_key("a")
    assert path.read_text() == 'keys = [\n  { name = "b", key = "${B}" },\n  {name = "c", key = "${C}"},\n]\n'


def test_dotted_key_providers(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[providers]\na.kind = "openai"  # dotted\na.api_key = "${K}"\nb = { kind = "x" }\n\n[aliases]\nx = "y"\n')
    editor = ConfigEditor(path)
    editor.upsert_provider("a", {"api_key": None, "weight": 2}, create=False)
    editor.upsert_provider("c", {"kind": "z"}, create=True)
    assert path.read_text() == ('[providers]\na.kind = "openai"  # dotted\na.weight = 2\nb = { kind = "x" }\n\n'
                                '[providers.c]\nkind = "z"\n\n[aliases]\nx = "y"\n')
    editor.delete_provider("a")
    assert editor.read_raw()["providers"] == {"b": {"kind": "x"}, "c": {"kind": "z"}}


def test_multiline_strings_are_not_mistaken_for_headers(tmp_path: Path) -> None:
    text = ('[providers.a]\nkind = "mock"\nmock_reply = """\n[providers.fake]\n# not a comment\n"""\n'
            "note = '''[x]'''\n\n[providers.b]\nkind = \"x\"\n")
    path = tmp_path / "c.toml"
    path.write_text(text)
    editor = ConfigEditor(path)
    editor.upsert_provider("a", {"weight": 1}, create=False)
    editor.delete_provider("b")
    assert path.read_text() == text.replace("'''[x]'''\n\n[providers.b]\nkind = \"x\"\n", "'''[x]'''\nweight = 1\n")


def _hammer(path: Path, worker: int, count: int) -> None:
    editor = ConfigEditor(path)  # one editor per worker, as request handlers would have
    for i in range(count):
        editor.set_alias(f"w{worker}-{i}", "gpt-4o")
        editor.add_key({"name": f"w{worker}-{i}", "key": "${K}"})


def test_concurrent_threads_lose_no_update(cfg: Path) -> None:
    threads = [threading.Thread(target=_hammer, args=(cfg, w, 5)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    raw = ConfigEditor(cfg).read_raw()
    expected = {f"w{w}-{i}" for w in range(8) for i in range(5)}
    assert expected <= raw["aliases"].keys()
    assert expected <= {k["name"] for k in raw["keys"]}
    assert comments(cfg.read_text()) == comments(SAMPLE)


def test_concurrent_processes_lose_no_update(cfg: Path) -> None:
    code = ("import sys; from pathlib import Path; from tests.config.test_editor import _hammer; "
            "_hammer(Path(sys.argv[1]), int(sys.argv[2]), 6)")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(cfg), str(w)], cwd=REPO) for w in range(3)]
    assert [p.wait(timeout=50) for p in procs] == [0, 0, 0]
    raw = ConfigEditor(cfg).read_raw()
    expected = {f"w{w}-{i}" for w in range(3) for i in range(6)}
    assert expected <= raw["aliases"].keys()
    assert expected <= {k["name"] for k in raw["keys"]}
    assert mode(cfg) == 0o600


NAMES = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8)
VALUES = st.one_of(st.text(max_size=10), st.just("${SECRET}"), st.integers(-(2**63), 2**63 - 1), st.booleans(),
                   st.floats(allow_nan=False, allow_infinity=False), st.lists(st.text(max_size=5), max_size=3))
FIELDS = st.dictionaries(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=6), VALUES, max_size=4)
OPS = st.lists(st.one_of(
    st.tuples(st.just("create"), NAMES, FIELDS),
    st.tuples(st.just("update"), st.integers(0, 9), FIELDS),
    st.tuples(st.just("delete"), st.integers(0, 9)),
    st.tuples(st.just("alias"), NAMES, st.text(min_size=1, max_size=5)),
    st.tuples(st.just("unalias"), st.integers(0, 9)),
    st.tuples(st.just("key"), NAMES),
    st.tuples(st.just("unkey"), st.integers(0, 9)),
), max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_any_edit_sequence_matches_a_plain_model_and_keeps_the_rest(ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.toml"
        path.write_text(SAMPLE)
        editor = ConfigEditor(path)
        model = tomllib.loads(SAMPLE)
        mine: dict[str, list[str]] = {"providers": [], "aliases": [], "keys": []}  # only names we added
        for op, arg, *rest in ops:
            if op == "create" and arg not in model["providers"]:
                editor.upsert_provider(arg, rest[0], create=True)
                model["providers"][arg] = dict(rest[0])
                mine["providers"].append(arg)
            elif op == "update" and mine["providers"]:
                name = mine["providers"][arg % len(mine["providers"])]
                editor.upsert_provider(name, rest[0], create=False)
                model["providers"][name].update(rest[0])
            elif op == "delete" and mine["providers"]:
                name = mine["providers"].pop(arg % len(mine["providers"]))
                editor.delete_provider(name)
                del model["providers"][name]
            elif op == "alias" and arg not in model["aliases"]:
                editor.set_alias(arg, rest[0])
                model["aliases"][arg] = rest[0]
                mine["aliases"].append(arg)
            elif op == "unalias" and mine["aliases"]:
                name = mine["aliases"].pop(arg % len(mine["aliases"]))
                editor.delete_alias(name)
                del model["aliases"][name]
            elif op == "key" and arg not in [k["name"] for k in model["keys"]]:
                editor.add_key({"name": arg, "key": "${K}"})
                model["keys"].append({"name": arg, "key": "${K}"})
                mine["keys"].append(arg)
            elif op == "unkey" and mine["keys"]:
                name = mine["keys"].pop(arg % len(mine["keys"]))
                editor.delete_key(name)
                model["keys"] = [k for k in model["keys"] if k["name"] != name]
        text = path.read_text()
        assert tomllib.loads(text) == model
        assert comments(SAMPLE) == [c for c in comments(text) if c in comments(SAMPLE)]
        assert_untouched(SAMPLE, text, changed={"[aliases]"})


def test_provider_tables_split_by_other_tables(tmp_path) -> None:
    """tomlkit cannot round-trip this layout; the editor still edits it safely."""
    path = tmp_path / "split.toml"
    path.write_text('[providers.fake]\nbase_url = "http://x/v1"\nmodels = ["a"]\n\n[[keys]]\nname = "k"\nkey = "sk-12345678"\n\n'
                    '# the mock\n[providers.mock]\nkind = "mock"\nmodels = ["m"]\n')
    editor = ConfigEditor(path)
    editor.upsert_provider("new", {"kind": "mock", "models": ["z"]}, create=True)
    editor.upsert_provider("mock", {"models": ["m", "n"]}, create=False)
    text = path.read_text()
    assert "# the mock" in text and '[providers.new]\nkind = "mock"\nmodels = ["z"]' in text
    assert editor.read_raw()["providers"]["mock"]["models"] == ["m", "n"]
    assert editor.read_raw()["keys"] == [{"name": "k", "key": "sk-12345678"}]
