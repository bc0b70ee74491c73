"""The sheet's pieces that are not data: the QR code of the digest and the PDF.

QR: ``segno`` renders the digest (64 hex characters, error correction M) as an SVG data URI, so the
page needs no image route and the CSP's ``img-src data:`` allows it. PDF: WeasyPrint lays out the
same HTML as the page (print CSS: A4, one table per page) and embeds the subset of the CJK font it
uses (Noto Sans CJK from Debian's ``fonts-noto-cjk``); docs/announcement.md says why not Chromium.
"""

from __future__ import annotations

import segno


def qr_data_uri(text: str) -> str:
    """An SVG data URI of a QR code carrying ``text``."""
    return str(segno.make(text, error="m", micro=False).svg_data_uri(scale=4, border=2))


def pdf_bytes(html: str, base_url: str) -> bytes:
    """The HTML as an A4 PDF with its fonts embedded (WeasyPrint)."""
    import weasyprint  # imported here: it loads pango, only needed for the PDF

    out = weasyprint.HTML(string=html, base_url=base_url).write_pdf()
    assert out is not None
    return bytes(out)
