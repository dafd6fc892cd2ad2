"""`recsys registry list|show|promote|rollback|gc`: inspect and move model versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from recsys.cli.app import app, emit_json, user_errors

registry_app = typer.Typer(help="Inspect registered model versions, promote, roll back and clean up.",
                           no_args_is_help=True)
app.add_typer(registry_app, name="registry")

RegistryOpt = typer.Option(..., "--registry", "-r", envvar="RECSYS_REGISTRY", help="Registry folder.")
JsonOpt = typer.Option(False, "--json", help="Print one JSON object on stdout.")


def _open(registry: Path):  # type: ignore[no-untyped-def]
    from recsys.errors import InputError
    from recsys.registry import Registry

    if not registry.is_dir():
        raise InputError(f"registry {registry} does not exist (train with --registry {registry} first)")
    return Registry(registry)


@registry_app.command("list")
def list_cmd(registry: Path = RegistryOpt, as_json: bool = JsonOpt) -> None:
    """Every model with its versions, aliases and the production version's metrics."""
    with user_errors():
        reg = _open(registry)
        rows: list[dict[str, Any]] = []
        for name in reg.names():
            versions = reg.versions(name)
            aliases = reg.aliases(name)
            prod = next((v for v in versions if v.version == aliases.get("production")), None)
            rows.append({"name": name, "versions": [v.version for v in versions], "aliases": aliases,
                         "production_metrics": prod.metrics if prod else {}})
    if as_json:
        emit_json({"registry": str(registry), "models": rows})
        return
    from rich.table import Table

    table = Table(title=f"registry {registry}")
    for col in ("model", "versions", "aliases", "ndcg@10 (production)"):
        table.add_column(col)
    for row in rows:
        ndcg = row["production_metrics"].get("ndcg@10")
        table.add_row(row["name"], ", ".join(map(str, row["versions"])),
                      ", ".join(f"{a}={v}" for a, v in sorted(row["aliases"].items())),
                      "-" if ndcg is None else f"{ndcg:.4f}")
    typer.echo(_render(table))


@registry_app.command("show")
def show_cmd(name: str = typer.Argument(..., help="Model name."),
             ref: str = typer.Argument("production", help="Version number or alias."),
             registry: Path = RegistryOpt, as_json: bool = JsonOpt) -> None:
    """The manifest of one version, plus the model's aliases and recent promotion decisions."""
    with user_errors():
        reg = _open(registry)
        mv = reg.version(name, ref)
        out = {**mv.to_dict(), "aliases": reg.aliases(name), "decisions": reg.decisions(name)[-10:]}
    if as_json:
        emit_json(out)
        return
    import json

    typer.echo(json.dumps(out, indent=2, sort_keys=True, default=str))


@registry_app.command("promote")
def promote_cmd(name: str = typer.Argument(..., help="Model name."),
                version: int = typer.Argument(..., help="Version to promote."),
                registry: Path = RegistryOpt,
                alias: str = typer.Option("production", help="Alias to move."),
                metric: str = typer.Option("ndcg@10", help="Gate metric (higher is better)."),
                tolerance: float = typer.Option(0.0, help="How much worse than the current holder is still accepted."),
                force: bool = typer.Option(False, "--force", help="Skip the gate."),
                as_json: bool = JsonOpt) -> None:
    """Move an alias to a version if it passes the gate. Exit code 1 when the gate refuses."""
    with user_errors():
        decision = _open(registry).promote(name, version, alias=alias, metric=metric, tolerance=tolerance,
                                           force=force)
    _report(decision.to_dict(), as_json)
    if not decision.promoted:
        raise typer.Exit(code=1)


@registry_app.command("rollback")
def rollback_cmd(name: str = typer.Argument(..., help="Model name."),
                 to: int | None = typer.Option(None, "--to", help="Version to return to (default: the previous "
                                                                  "production version)."),
                 registry: Path = RegistryOpt,
                 alias: str = typer.Option("production", help="Alias to move back."),
                 as_json: bool = JsonOpt) -> None:
    """Point production back at an earlier version (a forced promotion, recorded as a rollback)."""
    with user_errors():
        decision = _open(registry).rollback(name, to, alias=alias)
    _report(decision.to_dict(), as_json)


@registry_app.command("gc")
def gc_cmd(registry: Path = RegistryOpt,
           keep: int = typer.Option(5, "--keep", help="Newest versions kept per model (aliased ones always are)."),
           dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would be removed."),
           as_json: bool = JsonOpt) -> None:
    """Delete old versions, keeping the newest N and every aliased one."""
    with user_errors():
        removed = _open(registry).gc(keep, dry_run=dry_run)
    out = {"removed": [{"name": m.name, "version": m.version} for m in removed], "dry_run": dry_run}
    if as_json:
        emit_json(out)
        return
    verb = "would remove" if dry_run else "removed"
    typer.echo(f"{verb} {len(removed)} version(s)" + "".join(f"\n  {m.name} v{m.version}" for m in removed))


def _report(decision: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(decision)
        return
    verdict = "promoted" if decision["promoted"] else "refused"
    typer.echo(f"{decision['name']} v{decision['version']} -> {decision['alias']}: {verdict} ({decision['reason']})")


def _render(table: Any) -> str:
    from rich.console import Console

    console = Console(width=120)
    with console.capture() as cap:
        console.print(table)
    return cap.get()
