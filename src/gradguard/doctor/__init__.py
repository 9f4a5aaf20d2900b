"""The log doctor: what went wrong in a recorded run, why it looks so, and what to change.

$ gradguard doctor run.jsonl --lang bn --plot doctor.png

:func:`diagnose` reads one run of a guard log (:mod:`gradguard.records`) and returns a
:class:`Diagnosis`: its cause (:data:`CAUSES`: a recurring batch, a learning rate too
high, a one-off, …) and its findings, each a sentence id of the message catalogs with
the evidence it quotes (steps, values). Where the log cannot tell — no batch ids, no
re-runs, no per-layer norms — a finding says so and names what to record next time.
Torch-free: the CLI (``gradguard doctor``) is a thin shell over it.

::

    from gradguard.doctor import diagnose, render_text
    from gradguard.records import read_log

    diagnosis = diagnose(read_log("run.jsonl").runs[0])
    diagnosis.cause                     # "recurring_batch"
    print(render_text("run.jsonl", [diagnosis], lang="en"))
"""

from gradguard.doctor._diagnose import (
    CAUSES,
    LAYER_APART,
    LAYER_GROWTH,
    RAMP,
    TOPICS,
    Diagnosis,
    Episode,
    Finding,
    diagnose,
)
from gradguard.doctor._render import render_text, sentence, to_json
from gradguard.doctor._skipfile import read_skip_file

__all__ = [
    "CAUSES",
    "LAYER_APART",
    "LAYER_GROWTH",
    "RAMP",
    "TOPICS",
    "Diagnosis",
    "Episode",
    "Finding",
    "diagnose",
    "read_skip_file",
    "render_text",
    "sentence",
    "to_json",
]
