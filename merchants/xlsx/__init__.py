"""Reading XLSX workbooks, streamed (no openpyxl, no whole sheet in memory): ``SheetReader``
reads the first sheet row by row; ``XlsxUnreadable`` and ``XlsxTooLarge`` say why a file
cannot be read."""

from .package import XlsxTooLarge, XlsxUnreadable
from .sheet import SheetReader

__all__ = ["SheetReader", "XlsxTooLarge", "XlsxUnreadable"]
