"""Reading posted form fields (text only; uploads are read where they are expected)."""

from __future__ import annotations

from starlette.datastructures import FormData


def text_field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def text_list(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str)]
