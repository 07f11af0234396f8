"""`hfpipeline report RUN_DIR`: (re)write the run's report.md and plots/ (what `run` writes when it ends)."""

from pathlib import Path

from hfpipeline import rundir
from hfpipeline.errors import UserError


def report_command(args) -> int:
    """Write RUN_DIR/report.md and print its path."""
    run_dir = Path(args.run_dir)
    if not (run_dir / rundir.MANIFEST).is_file():
        raise UserError(f"{run_dir}: not a run directory (no {rundir.MANIFEST}). Give the output_dir of a run")
    from hfpipeline import report

    print(report.write(run_dir))
    return 0
