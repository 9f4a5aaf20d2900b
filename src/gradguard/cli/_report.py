"""The tour (main job); report and serve arrive with the report issue."""

from __future__ import annotations

from gradguard.cli._app import app


@app.command()
def tour() -> None:
    """Tell the seed's story end to end on its defaults (for now: the lesson)."""
    from gradguard.cli import main

    code = main(["explain"])
    if code:
        raise SystemExit(code)
