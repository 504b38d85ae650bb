"""`snap train`: unlearn with negative instructions + hard retaining data + a regularizer (flags from TrainSpec)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import typer

from snapcli.cli.common import emit, run_stage_cli, table
from snapcli.cli.flags import spec_command
from snapcli.console import log, out_console, progress, state
from snapcli.errors import SnapError
from snapcli.stages.base import Context
from snapcli.stages.train import TrainSpec


def handle(spec: TrainSpec, *, config: str | None = None, force: bool = False, dry_run: bool = False) -> None:
    from snapcli.train import launch
    from snapcli.train.regularizers import get_regularizer

    st = state()
    if spec.accelerate_config and not launch.launched() and not dry_run:
        cfg_path = launch.preset_path(spec.accelerate_config)
        if launch.preset_zero_stage(cfg_path) == 3 and not get_regularizer(spec.reg).zero3:
            raise SnapError(f"--reg {spec.reg} does not run under ZeRO-3 (use the zero2 preset)")
        args = launch.child_args(sys.argv[1:], st.workspace, st.json, st.quiet)
        log(f"launching {spec.num_processes} process(es) with accelerate ({cfg_path.name})")
        rc = launch.relaunch(cfg_path, spec.num_processes, args)
        if rc:
            raise typer.Exit(rc)
        return

    if dry_run:
        run_stage_cli(spec, force=force, dry_run=True)
        return
    main = int(os.environ.get("RANK", "0")) == 0
    with progress() as bar:
        task = bar.add_task("train: starting", total=None)

        def on_status(msg: str) -> None:
            bar.update(task, description=f"train: {msg}")

        def on_step(info) -> None:
            r = info.row
            bar.update(task, total=info.total, completed=info.step,
                       description=f"train: L_f {r['loss_f']:.3f} L_r {r['loss_r']:.3f} "
                                   f"R {r['reg']:.2e} {r['step_seconds']:.1f}s/step")

        ctx = Context(on_note=log, on_train_step=on_step if main else None, on_status=on_status if main else None)
        with _stdout_to_stderr():
            arts = run_stage_cli(spec, force=force, dry_run=dry_run, ctx=ctx)
    if arts is None or not main:
        return
    results = []
    for art in arts:
        metrics = art.read_df("metrics")
        last = metrics.iloc[-1].to_dict() if len(metrics) else {}
        tr = art.manifest.get("extra", {}).get("train", {})
        results.append({
            "ref": art.ref, "cached": art.cached, "seed": art.manifest.get("seed"),
            "model_dir": str(art.path / "model"), "steps": int(last.get("step", 0)), "loss_f": last.get("loss_f"),
            "loss_r": last.get("loss_r"), "reg": last.get("reg"),
            "resumed_from_step": tr.get("resumed_from_step"), "memory": tr.get("memory"),
        })

    def render() -> None:
        out_console.print(table("snap train", ["ref", "seed", "steps", "L_f", "L_r", "R", "cached"], [
            [r["ref"], r["seed"], r["steps"], _fmt(r["loss_f"]), _fmt(r["loss_r"]), _fmt(r["reg"], ".2e"),
             "yes" if r["cached"] else "no"] for r in results]))

    emit(results if len(results) > 1 else results[0], render)


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """DeepSpeed prints build/info lines on stdout (even from C++); stdout must hold only snap's result."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _fmt(v, spec: str = ".4f") -> str:
    return "" if v is None else format(float(v), spec)


def register(app: typer.Typer) -> None:
    app.command("train")(spec_command(TrainSpec, handle))
