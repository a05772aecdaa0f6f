"""The pages: the run's report, the comparison of two runs and the runs index, each rendered
from a Jinja2 template in templates/ into one self-contained HTML file that opens offline.
One environment for all of them, and one way to put a figure into a page."""

from __future__ import annotations

import base64

import jinja2

ENV = jinja2.Environment(loader=jinja2.PackageLoader("analysis.pages", "templates"),
                         autoescape=jinja2.select_autoescape(["html"]))


def inline_images(figures: dict[str, bytes]) -> dict[str, str]:
    """PNG bytes by name -> base64 text for `data:image/png;base64,` sources."""
    return {name: base64.b64encode(png).decode("ascii") for name, png in figures.items()}


def render(template: str, **context) -> str:
    return ENV.get_template(template).render(**context)
