"""The lesson's pieces of text that the report, the explorer and the CLI reuse.

- :func:`count` — a whole number of steps for prose (``1,016``; ``≈ 1.798 × 10^308``);
  :func:`exact_text` — a lesson value's exact text; :func:`numbers_in` — make
  :func:`~gradguard.explain.format_number` speak a language inside a block;
- :data:`TOPICS` — the topics of :func:`~gradguard.explain.claims`, in the lesson's order;
- :func:`sheet_blocks` — a worksheet of :func:`~gradguard.explain.exercises` as blocks of
  text and math, for a page to lay out; :data:`MAX_SEED` — the largest worksheet seed.
"""

from gradguard.explain._claims import TOPICS
from gradguard.explain._exercises import MAX_SEED, sheet_blocks
from gradguard.explain._format import count, exact_text
from gradguard.explain._render import numbers_in

__all__ = ["MAX_SEED", "TOPICS", "count", "exact_text", "numbers_in", "sheet_blocks"]
