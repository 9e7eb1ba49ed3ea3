"""`flickrhub plugins`, `flickrhub config` and the one-line refusals."""

from __future__ import annotations

import json

from tests.cli.conftest import Invoke


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("flickrhub: error: ")
    assert "Traceback" not in stderr
    return lines[0]


def test_plugins_json_lists_each_plugin_with_version_and_hooks(invoke: Invoke) -> None:
    result = invoke("plugins", "--json")
    assert result.exit_code == 0, result.output
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert set(plugins) == {"rest", "upload", "replace", "local"}
    for name in ("rest", "upload", "replace"):
        assert plugins[name]["hooks"] == ["register_targets"]
        assert plugins[name]["version"] == "0.1.0"
    assert "token_store" in plugins["local"]["hooks"]


def test_plugins_table_has_a_row_per_plugin(invoke: Invoke) -> None:
    result = invoke("plugins")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "HOOKS"]
    assert sorted(line.split()[0] for line in lines[1:]) == ["local", "replace", "rest", "upload"]
    assert any(line.startswith("rest ") and "register_targets" in line for line in lines)


def test_plugins_allowlist_narrows_the_list(invoke: Invoke) -> None:
    result = invoke("plugins", "--json", env={"FLICKRHUB_PLUGINS": "rest"})
    assert [p["name"] for p in json.loads(result.stdout)] == ["rest"]


def test_unknown_plugin_is_a_one_line_error_naming_it(invoke: Invoke) -> None:
    result = invoke("plugins", env={"FLICKRHUB_PLUGINS": "rest,nope"})
    assert result.exit_code == 2
    assert "'nope'" in one_error_line(result.stderr)


def test_invalid_setting_is_a_one_line_error_naming_it(invoke: Invoke) -> None:
    result = invoke("config", env={"PORT": "abc"})
    assert result.exit_code == 2
    assert "PORT" in one_error_line(result.stderr)
    assert result.stdout == ""


def test_config_prints_settings_with_secrets_redacted(invoke: Invoke) -> None:
    env = {
        "FLICKR_API_KEY": "publickey",
        "FLICKR_API_SECRET": "topsecret-flickr",
        "MONGO_URL": "mongodb://admin:hunter2@db:27017",
        "PORT": "4000",
    }
    result = invoke("config", env=env)
    assert result.exit_code == 0, result.stderr
    assert "topsecret-flickr" not in result.output
    assert "hunter2" not in result.output
    lines = set(result.stdout.splitlines())
    assert {"FLICKR_API_SECRET=********", "MONGO_URL=********", "PORT=4000"} <= lines
    assert "FLICKR_API_KEY=publickey" in lines

    as_json = json.loads(invoke("config", "--json", env=env).stdout)
    assert as_json["FLICKR_API_SECRET"] == "********"
    assert as_json["MONGO_URL"] == "********"
    assert as_json["PORT"] == 4000


def test_worker_without_shared_broker_is_refused_in_one_line(invoke: Invoke) -> None:
    result = invoke("worker")
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert "RABBIT_URL" in line
    assert "flickrhub run" in line


def test_api_without_shared_broker_is_refused_in_one_line(invoke: Invoke) -> None:
    result = invoke("api", "--port", "0")
    assert result.exit_code == 2
    assert "RABBIT_URL" in one_error_line(result.stderr)


def test_run_on_a_port_in_use_is_a_one_line_error(invoke: Invoke) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = invoke("run", "--port", str(port))
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in one_error_line(result.stderr)


def test_sandbox_fault_rates_are_checked(invoke: Invoke) -> None:
    result = invoke("sandbox", "--error-rate-5xx", "2")
    assert result.exit_code == 2
    assert "--error-rate-5xx" in result.stderr
