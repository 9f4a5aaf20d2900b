"""Publish the explorer in the docs site: the static page, one file per language.

``explorer.html`` (English) and ``explorer-bn.html`` (Bengali) are
:func:`gradguard.serve.build_page` — the page ``gradguard serve`` hosts and a user
can save as one file: it computes in the browser and fetches nothing, so a student
can open it on a phone from a link. ``docs/explorer.md`` links to both.

Loaded by mkdocs.yml (``hooks: [tools/mkdocs/explorer.py]``).
"""

from __future__ import annotations

from typing import Any

from mkdocs.structure.files import File, Files

#: Where each language's page lands in the site.
PAGES = {"en": "explorer.html", "bn": "explorer-bn.html"}


def on_files(files: Files, config: Any) -> Files:
    from gradguard.serve import build_page

    for lang, path in PAGES.items():
        files.append(File.generated(config, path, content=build_page(lang).encode("utf-8")))
    return files
