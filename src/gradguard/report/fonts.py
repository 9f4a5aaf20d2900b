"""The fonts the report, the plots and the explorer embed, so that no text is drawn as boxes.

- :func:`fonts_for` — the fonts a text needs (one per script it uses);
- :func:`font_css` — the CSS that makes a page draw a text with them (inlined);
- :func:`require_fonts` — check before long work that a language's text can be drawn;
  raises :class:`FontMissing` (which font, and how to install it) if not.
"""

from gradguard.report._fonts import FontMissing, font_css, fonts_for, require_fonts

__all__ = ["FontMissing", "font_css", "fonts_for", "require_fonts"]
