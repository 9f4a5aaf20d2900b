"""Benchmark the explorer page in Chromium: each interaction against one frame, loading from disk.

$ python benchmarks/bench_explorer.py [--repeat 5]

The page is :func:`gradguard.serve.build_page` written to a temporary file and
opened over ``file://`` in Debian's Chromium (headless, as the browser tests run it).

1. **Load** (budget ≤ 1 s): from navigation start to the page's ``gg-ready`` mark
   (every panel computed and drawn once), in a fresh browser context each time, and
   ``loadEventEnd``; the median of ``--repeat`` loads.
2. **Interactions** (budget ≤ 16 ms, one frame at 60 Hz): an ``input`` event on a
   slider or box, or a click, dispatched in the page; timed from the dispatch to the
   end of the style and layout it causes (a forced ``offsetHeight`` read) — the work
   that must fit in a frame before the paint. For ``T`` up to 1000 with exploding,
   vanishing and long-fraction ``w``, the backward step at its first, middle and last
   step, and matrix mode for ``n`` up to 64. Median and max of ``--repeat`` runs.
   The page is used once on every path before timing (the first call of a function
   compiles it). Baseline in the same run: the seed's own point (``w = 2, T = 5``), so the ratio
   column shows what a larger problem costs over the smallest one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from gradguard.serve import write_page

CHROMIUM = os.environ.get("GRADGUARD_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
FRAME_MS = 16.0
LOAD_BUDGET_S = 1.0

#: Time one interaction in the page: dispatch, then force style and layout.
_TIME = """([kind, sel, value]) => {
  const el = document.querySelector(sel);
  const t0 = performance.now();
  if (kind === 'input') { el.value = value; el.dispatchEvent(new Event('input', {bubbles: true})); }
  else el.click();
  void document.body.offsetHeight;
  return performance.now() - t0;
}"""


def set_inputs(pg, **values: str) -> None:
    for name, value in values.items():
        pg.evaluate(_TIME, ["input", f"#{name}-num", value])


def time_action(pg, repeat: int, action: list[str], setup=None) -> list[float]:
    out = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        out.append(pg.evaluate(_TIME, action))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print(f"system load: {os.getloadavg()[0]:.2f} (1-minute average), {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        page = Path(tmp) / "explorer.html"
        write_page(page, "en")
        size = page.stat().st_size
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        browser.new_page().goto(page.as_uri())  # warm the browser process, not the page

        ready, onload = [], []
        for _ in range(args.repeat):
            ctx = browser.new_context()
            pg = ctx.new_page()
            pg.goto(page.as_uri())
            pg.wait_for_function("performance.getEntriesByName('gg-ready').length > 0")
            ready.append(pg.evaluate("performance.getEntriesByName('gg-ready')[0].startTime"))
            onload.append(
                pg.evaluate("performance.timing.loadEventEnd - performance.timing.navigationStart")
            )
            ctx.close()
        r, o = statistics.median(ready) / 1000, statistics.median(onload) / 1000
        print(f"\npage: {size / 1e6:.2f} MB, one file over file://")
        print(
            f"load to gg-ready: median {r:.3f} s, max {max(ready) / 1000:.3f} s "
            f"(budget {LOAD_BUDGET_S} s: {'ok' if r <= LOAD_BUDGET_S else 'OVER'}); "
            f"load event {o:.3f} s"
        )

        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        pg = ctx.new_page()
        pg.goto(page.as_uri())
        pg.wait_for_function("window.GG && GG.page")
        # warm the JIT once on every path (a first call compiles; the runs below measure use)
        for n in ("16", "64", "8"):
            pg.evaluate(_TIME, ["input", "#mx-n", n])
        rows: list[tuple[str, list[float]]] = []

        def slider(label: str, w: str, T: str, h0: str = "1") -> None:
            set_inputs(pg, w=w, T=T, h0=h0)
            # a slider move: the w slider to a value and back (each is one input event)
            times = []
            for i in range(args.repeat):
                times.append(pg.evaluate(_TIME, ["input", "#eta", "0.011" if i % 2 else "0.012"]))
            rows.append((f"slider, {label}", times))

        slider("w = 2, T = 5 (baseline)", "2", "5")
        for w in ("2", "0.9", "-1.5", "1.01", "0.123456789"):
            for T in ("100", "1000"):
                slider(f"w = {w}, T = {T}", w, T)

        for w in ("2", "0.123456789"):
            set_inputs(pg, w=w, T="1000")
            for label, k in (("first", 0), ("middle", 500), ("last", 999)):

                def setup(k=k) -> None:
                    pg.evaluate(f"GG.page.bpJump({k})")

                rows.append(
                    (
                        f"backward step ({label}), w = {w}, T = 1000",
                        time_action(pg, args.repeat, ["click", "#bp-step", ""], setup),
                    )
                )

        set_inputs(pg, w="1.01", T="1000")
        pg.check("#mx-init input[value=scaled-orthogonal]")
        for n in ("2", "16", "64"):
            rows.append(
                (
                    f"matrix n = {n}: n slider (new Q, eigenvalues, SVD, T = 1000)",
                    time_action(
                        pg,
                        args.repeat,
                        ["input", "#mx-n", n],
                        # a new seed each run: a new Q, nothing cached (the page caches by n, seed)
                        lambda: pg.evaluate(
                            "document.getElementById('mx-n').value = 3;"
                            "document.getElementById('mx-seed').value ="
                            " 1 + Math.floor(Math.random() * 9e4)"
                        ),
                    ),
                )
            )
            pg.evaluate(_TIME, ["input", "#mx-n", n])
            rows.append(
                (
                    f"matrix n = {n}: ρ slider (T = 1000)",
                    time_action(
                        pg,
                        args.repeat,
                        ["input", "#mx-rho", "1.05"],
                        lambda: pg.evaluate("document.getElementById('mx-rho').value = 1"),
                    ),
                )
            )
            rows.append(
                (
                    f"matrix n = {n}: product scale slider (40 matrices)",
                    time_action(pg, args.repeat, ["input", "#mx-scale", "1.2"]),
                )
            )
        pg.check("#mx-init input[value=he]")
        rows.append(
            (
                "matrix n = 64, He: T slider (lesson and matrix, T = 1000)",
                time_action(pg, args.repeat, ["input", "#T-num", "1000"]),
            )
        )
        rows.append(
            (
                "SGD updates slider (100 updates)",
                time_action(pg, args.repeat, ["input", "#sgd-n", "100"]),
            )
        )
        rows.append(
            ("gate bias slider", time_action(pg, args.repeat, ["input", "#gate-bias", "4"]))
        )
        rows.append(("quiz check", time_action(pg, args.repeat, ["click", "#quiz-check", ""])))
        ctx.close()
        browser.close()

    base = statistics.median(rows[0][1])
    width = max(len(label) for label, _ in rows)
    print(f"\n{'interaction':<{width}}  median ms    max ms  × baseline  ≤ {FRAME_MS:.0f} ms")
    over = 0
    for label, times in rows:
        med, top = statistics.median(times), max(times)
        ok = top <= FRAME_MS
        over += not ok
        print(
            f"{label:<{width}}  {med:9.2f}  {top:8.2f}  {med / base:10.1f}  {'yes' if ok else 'NO'}"
        )
    print(
        f"\n{len(rows) - over} of {len(rows)} interactions within one frame "
        f"(max of {args.repeat} runs)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
