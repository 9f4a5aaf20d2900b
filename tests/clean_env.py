"""Run the gradguard CLI as on a bare machine: no system fonts, optionally without an extra.

$ python tests/clean_env.py --no-system-fonts -- report --lang bn -o r.html
$ python tests/clean_env.py --block torch -- tour --out tour/
$ python tests/clean_env.py --no-system-fonts --tiny -- tour --lang bn --out tour/

--no-system-fonts  rebuild matplotlib's font list from matplotlib's own fonts only (no
                   fontconfig, no /usr/share/fonts), and check that it worked;
--block MODULE     make ``import MODULE`` fail as it does when its extra is not installed;
--tiny             shrink the tour's training runs to a few steps (a smoke run, not results).

Not a test module: the tests run it in a fresh interpreter.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def hide_system_fonts() -> None:
    """Make matplotlib see only the fonts inside matplotlib; raise if any other stays visible."""
    import matplotlib
    from matplotlib import font_manager as fm

    found = fm.findSystemFonts

    def only_given(fontpaths=None, fontext="ttf"):  # type: ignore[no-untyped-def]
        return [] if fontpaths is None else found(fontpaths, fontext)

    fm.findSystemFonts = only_given
    fm.fontManager = fm.FontManager()
    fm.findfont = fm.fontManager.findfont
    fm.get_font_names = fm.fontManager.get_font_names
    own = Path(matplotlib.get_data_path()).resolve()
    seen = [Path(f.fname).resolve() for f in fm.fontManager.ttflist + fm.fontManager.afmlist]
    outside = [p for p in seen if own not in p.parents]
    if outside or not seen:
        raise SystemExit(f"clean_env: system fonts still visible to matplotlib: {outside[:3]}")


def tiny_tour() -> None:
    """Shrink the remedies' quick preset and the tour's flow curves to a few steps."""
    import dataclasses

    from gradguard.cli import _report
    from gradguard.experiments import _grid

    quick = _grid.PRESETS["quick"]
    _grid.PRESETS["quick"] = dataclasses.replace(
        quick,
        divergence_steps=5,
        divergence_hidden=4,
        divergence_batch=4,
        adding_T=(8,),
        copy_T=(4,),
        long_steps={8: 4, 4: 4},
        long_hidden=4,
        long_batch=4,
        eval_every=2,
    )
    _report.FLOW_T = 8


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-system-fonts", action="store_true")
    parser.add_argument("--block", action="append", default=[])
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    ns = parser.parse_args()
    for name in ns.block:
        sys.modules[name] = None  # type: ignore[assignment]  # import raises ModuleNotFoundError
    if ns.no_system_fonts:
        hide_system_fonts()
    if ns.tiny:
        tiny_tour()
    from gradguard.cli import main as cli

    args = ns.args[1:] if ns.args[:1] == ["--"] else ns.args
    return cli(args)


if __name__ == "__main__":
    sys.exit(main())
