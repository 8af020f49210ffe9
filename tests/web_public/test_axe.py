"""The accessibility check itself finds what it should (so a clean page means something)."""

from __future__ import annotations

from typing import Any

from .conftest import axe_violations


def it_reports_a_serious_violation(page: Any) -> None:
    page.set_content('<html><body><main><img src="data:,"><a href="#"></a></main></body></html>')
    found = {violation["id"] for violation in axe_violations(page)}
    assert {"image-alt", "html-has-lang"} <= found
