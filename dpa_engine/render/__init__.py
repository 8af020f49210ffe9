"""Rendering: the only package that imports docxtpl / python-docx.

`DocxRenderer` prepares a base template once (docxtpl's XML clean-up and Jinja compilation)
and then writes one agreement per call; `convert_to_pdf` drives headless LibreOffice.
"""

from .pdf import LibreOfficeConverter, convert_to_pdf, find_soffice
from .word import DocxRenderer, ExtraPart

__all__ = ["DocxRenderer", "ExtraPart", "LibreOfficeConverter", "convert_to_pdf", "find_soffice"]
