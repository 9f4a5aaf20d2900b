"""The lesson, rendered from a live computation: steps, renderers, message catalogs.

>>> from gradguard.explain import lesson, render_text
>>> data = lesson(w=2, h0=1, T=5)          # JSON-ready dict, language-neutral
>>> data["grad"]
'80'
>>> text = render_text(lesson(lang="bn"))  # prose from catalogs/bn.toml
"""

from gradguard._catalog import Catalog, default_lang, languages, load_catalog
from gradguard._validate import check_lang
from gradguard.explain._claims import Claim, claims, say
from gradguard.explain._exercises import Problem, exercises, render_sheet
from gradguard.explain._format import format_number
from gradguard.explain._lesson import LESSON_VERSION, lesson
from gradguard.explain._render import erratum, render_markdown, render_text

__all__ = [
    "LESSON_VERSION",
    "Catalog",
    "Claim",
    "Problem",
    "check_lang",
    "claims",
    "default_lang",
    "erratum",
    "exercises",
    "format_number",
    "languages",
    "lesson",
    "load_catalog",
    "render_markdown",
    "render_sheet",
    "render_text",
    "say",
]
