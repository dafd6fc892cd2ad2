"""`recsys experiment start|stop|list|report`: online experiments between registered models."""

from __future__ import annotations

from pathlib import Path

import typer

from recsys.cli.app import app, emit_json, stderr_console, user_errors

experiment_app = typer.Typer(help="Start, stop, list and report A/B and interleaving experiments.",
                             no_args_is_help=True)
app.add_typer(experiment_app, name="experiment")

RegistryOpt = typer.Option(..., "--registry", "-r", envvar="RECSYS_REGISTRY", help="Registry folder.")


def _pairs(values: list[str], what: str) -> dict[str, str]:
    from recsys.errors import InputError

    out: dict[str, str] = {}
    for v in values:
        key, sep, val = v.partition("=")
        if not sep or not key.strip() or not val.strip():
            raise InputError(f"--{what} takes ARM=VALUE (e.g. control=popularity), got {v!r}")
        out[key.strip()] = val.strip()
    return out


@experiment_app.command("start")
def start(
    name: str = typer.Argument(..., help="Experiment name."),
    registry: Path = RegistryOpt,
    arm: list[str] = typer.Option(..., "--arm", help="ARM=MODEL or ARM=MODEL@VERSION (repeat; the first is the "
                                                      "control)."),
    weight: list[str] = typer.Option([], "--weight", help="ARM=PERCENT (default: equal split)."),
    mode: str = typer.Option("ab", "--mode", help="ab | interleaving (team draft)."),
    salt: str | None = typer.Option(None, "--salt", help="Assignment salt (default: random)."),
    window_hours: float = typer.Option(24.0, "--window-hours", help="Attribution window for events without a "
                                                                    "request_id."),
) -> None:
    """Validate the arms (they must exist and load) and start the experiment; the service picks it up live."""
    from recsys.errors import InputError
    from recsys.experiments.definitions import Arm, Experiment, ExperimentStore

    with user_errors():
        arms = {k: Arm.parse(v) for k, v in _pairs(arm, "arm").items()}
        raw_weights = _pairs(weight, "weight")
        try:
            weights = {a: float(raw_weights.get(a, 100.0 / len(arms))) for a in arms} if arms else {}
        except ValueError as err:
            raise InputError(f"--weight takes a number, got {raw_weights}") from err
        unknown = sorted(set(raw_weights) - set(arms))
        if unknown:
            raise InputError(f"--weight names arm(s) {', '.join(unknown)} that no --arm defines")
        exp = ExperimentStore(registry).start(Experiment(name, arms, weights, mode, salt or "",
                                                         window_hours=window_hours))
        stderr_console().print(f"experiment {exp.name} running ({exp.mode}): "
                               + ", ".join(f"{a}={s} ({exp.weights[a]:g} %)" for a, s in exp.arms.items()),
                               highlight=False)


@experiment_app.command("stop")
def stop(name: str = typer.Argument(...), registry: Path = RegistryOpt) -> None:
    """Stop the experiment: requests naming no model go back to the default model."""
    from recsys.experiments.definitions import ExperimentStore

    with user_errors():
        exp = ExperimentStore(registry).stop(name)
        stderr_console().print(f"experiment {exp.name} stopped at {exp.stopped}", highlight=False)


@experiment_app.command("list")
def list_cmd(registry: Path = RegistryOpt,
             as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout.")) -> None:
    """Every experiment with its status and arms."""
    from recsys.experiments.definitions import ExperimentStore

    with user_errors():
        exps = ExperimentStore(registry).list()
        if as_json:
            emit_json({"experiments": [e.to_dict() for e in exps]})
            return
        for e in exps:
            arms = ", ".join(f"{a}={s}" for a, s in e.arms.items())
            typer.echo(f"{e.name}\t{e.status}\t{e.mode}\t{arms}\tstarted {e.started}")


@experiment_app.command("report")
def report(
    name: str = typer.Argument(...),
    registry: Path = RegistryOpt,
    lake: Path = typer.Option(..., "--lake", help="Lake with the ingested impressions and events."),
    out: Path | None = typer.Option(None, "--out", help="Write the HTML report here."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object on stdout."),
) -> None:
    """Per-arm online metrics with offline ones, lift with CI and p-values (fixed and always-valid), SRM."""
    from recsys.experiments.render import experiment_json, write_experiment_report
    from recsys.experiments.report import experiment_report

    with user_errors():
        rep = experiment_report(registry, lake, name)
        if out is not None:
            write_experiment_report(rep, out)
        if as_json:
            typer.echo(experiment_json(rep))
            return
        console = stderr_console()
        for arm, s in rep["arms"].items():
            console.print(f"{arm:>12}: users {s['users']}, impressions {s['impressions']}, clicks {s['clicks']}, "
                          f"ctr {s['ctr']}, conversion {s['conversion_rate']}, revenue/user "
                          f"{s['revenue_per_user']}", highlight=False)
        lift = rep["lift"]
        console.print(f"lift of {lift['metric']}: {lift.get('relative')} (95% CI {lift.get('ci')}), "
                      f"p={lift.get('p_value')}, always-valid p={lift.get('always_valid_p_value')}; "
                      f"SRM ok: {rep['srm']['ok']}", highlight=False)
        if out is not None:
            console.print(f"report: {out}", highlight=False)
