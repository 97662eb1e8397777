"""QR codes drawn on the server, as SVG: the deposit page's payment code (WeChat Pay's
``code_url``, scanned with WeChat to pay). No image library and no CDN: ``qrcode`` writes
the SVG path itself."""

from __future__ import annotations

from qrcode import QRCode
from qrcode.constants import ERROR_CORRECT_M
from qrcode.image.svg import SvgPathFillImage


def qr_svg(text: str) -> bytes:
    """``text`` as a scannable QR code: an SVG document on a white background."""
    code = QRCode(error_correction=ERROR_CORRECT_M, border=4, box_size=10, image_factory=SvgPathFillImage)
    code.add_data(text)
    code.make(fit=True)
    return code.make_image().to_string(encoding="unicode").encode()
