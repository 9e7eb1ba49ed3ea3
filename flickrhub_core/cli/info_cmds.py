"""``flickrhub plugins`` and ``flickrhub config``: what this installation would run."""

from __future__ import annotations

import json

import click

from flickrhub_core.cli.app import cli, settings_of
from flickrhub_core.plugins import load_plugins


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins(as_json: bool) -> None:
    """List the enabled plugins, their versions and the hooks each implements."""
    settings = settings_of()
    loaded = load_plugins(settings.plugin_allowlist)
    infos = [info.as_dict() for info in loaded.infos]
    if as_json:
        click.echo(json.dumps(infos, indent=2))
        return
    if not infos:
        click.echo("No plugins enabled.")
        return
    name_w = max(len("NAME"), *(len(i["name"]) for i in infos))
    ver_w = max(len("VERSION"), *(len(i["version"]) for i in infos))
    click.echo(f"{'NAME':<{name_w}}  {'VERSION':<{ver_w}}  HOOKS")
    for info in infos:
        hooks = ", ".join(info["hooks"]) or "-"
        click.echo(f"{info['name']:<{name_w}}  {info['version']:<{ver_w}}  {hooks}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of NAME=value lines.")
def config(as_json: bool) -> None:
    """Print the effective settings, secrets redacted."""
    values = settings_of().redacted()
    if as_json:
        click.echo(json.dumps(values, indent=2, sort_keys=True, default=str))
        return
    for name in sorted(values):
        value = values[name]
        if value is None:
            text = ""
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, dict | list):
            text = json.dumps(value)
        else:
            text = str(value)
        click.echo(f"{name}={text}")
