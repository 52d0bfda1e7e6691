"""The provenance chain as inline SVG: Hub commit -> pull -> signatures -> bundle -> import -> path.

Drawn by hand because it is six boxes and five arrows, and an air-gapped
browser loads no chart library. Every label is escaped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

BOX_W, BOX_H, GAP, PAD = 150, 54, 34, 8


@dataclass(frozen=True)
class ChainStep:
    title: str
    detail: str
    ok: bool = True


def _text(value: str, limit: int = 22) -> str:
    shown = value if len(value) <= limit else value[: limit - 1] + "…"
    return html.escape(shown, quote=True)


def chain_svg(steps: list[ChainStep]) -> str:
    width = PAD * 2 + len(steps) * BOX_W + (len(steps) - 1) * GAP
    height = BOX_H + PAD * 2
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="provenance chain" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#57606a"/></marker></defs>',
    ]
    for i, step in enumerate(steps):
        x = PAD + i * (BOX_W + GAP)
        fill, stroke = ("#f6f8fa", "#8c959f") if step.ok else ("#ffebe9", "#a40e26")
        parts.append(
            f"<g><title>{html.escape(step.title)}: {html.escape(step.detail)}</title>"
            f'<rect x="{x}" y="{PAD}" width="{BOX_W}" height="{BOX_H}" rx="6" '
            f'fill="{fill}" stroke="{stroke}"/>'
            f'<text x="{x + BOX_W / 2}" y="{PAD + 21}" text-anchor="middle" font-size="13" font-weight="600" '
            f'font-family="system-ui,sans-serif">{_text(step.title)}</text>'
            f'<text x="{x + BOX_W / 2}" y="{PAD + 40}" text-anchor="middle" font-size="11" '
            f'font-family="ui-monospace,monospace" fill="#57606a">{_text(step.detail)}</text></g>'
        )
        if i + 1 < len(steps):
            y = PAD + BOX_H / 2
            parts.append(
                f'<line x1="{x + BOX_W}" y1="{y}" x2="{x + BOX_W + GAP - 2}" y2="{y}" stroke="#57606a" '
                'stroke-width="1.5" marker-end="url(#arrow)"/>'
            )
    parts.append("</svg>")
    return "".join(parts)
