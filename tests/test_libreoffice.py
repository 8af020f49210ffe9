"""A real client opens the agreements: headless LibreOffice converts each one to PDF."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dpa_engine.render import LibreOfficeConverter

PARTIES = {
    "deal-standard-nl": ("Bakkerij Peeters", "Voxalis"),
    "deal-health-en": ("MedCare Clinics", "ClearTranscribe"),
    "deal-negotiated-nl": ("Groenveld Energie", "Voxalis"),
}


@pytest.mark.libreoffice
@pytest.mark.parametrize("stem", sorted(PARTIES))
def test_libreoffice_converts_the_agreement_and_keeps_the_parties(
        soffice: LibreOfficeConverter, pdftotext: str, generated: dict[str, Path],
        tmp_path: Path, stem: str) -> None:
    pdf = tmp_path / f"{stem}.pdf"
    soffice.convert(generated[stem], pdf)
    text = subprocess.run([pdftotext, "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    for name in PARTIES[stem]:
        assert name in text
    # Page X of Y fields were computed by LibreOffice: the last page says "N of N".
    pages = text.count("\f")
    assert pages >= 4
    assert f"{pages} van {pages}" in text or f"{pages} of {pages}" in text
