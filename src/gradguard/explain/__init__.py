"""The lesson, rendered from a live computation: steps, renderers, message catalogs (en, bn).

>>> from gradguard.explain import lesson, render_text
>>> data = lesson(w=2, h0=1, T=5)          # JSON-ready dict, language-neutral
>>> data["grad"]
'80'
>>> text = render_text(lesson(lang="bn"))  # prose from catalogs/bn.toml
"""

from gradguard.explain._catalog import LANGS, Catalog, check_lang, default_lang, load_catalog
from gradguard.explain._lesson import LESSON_VERSION, lesson
from gradguard.explain._render import format_number, render_markdown, render_text

__all__ = [
    "LANGS",
    "LESSON_VERSION",
    "Catalog",
    "check_lang",
    "default_lang",
    "format_number",
    "lesson",
    "load_catalog",
    "render_markdown",
    "render_text",
]
