"""A clause's rendered text -> paragraphs: prose, bullets or lettered items, and references
to other clauses as numbered cross-reference runs."""

from __future__ import annotations

from typing import Any, Literal

from jinja2 import TemplateError

from ..document import Block, Paragraph, RefRun, Run, Style, TextRun, bookmark_for, letter
from ..errors import LibraryError
from ..library import LoadedClause
from ..library.textenv import REF_PATTERN
from ..models import Language

# Lettered list items: (a), (b) inside numbered articles, (A), (B) for the recitals.
Lettering = Literal["lower", "upper"] | None


def clause_blocks(item: LoadedClause, numbers: dict[str, str | None], context: dict[str, Any],
                  language: Language, lettering: Lettering = None) -> list[Block]:
    try:
        text = item.templates[language].render(context)
    except TemplateError as exc:
        raise LibraryError(f"clause text cannot be rendered: {exc}", path=item.path,
                           line=item.line, field=f"{item.id}.text.{language}",
                           fix="correct the placeholder in the clause text") from None
    paragraphs = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    number = numbers[item.id]
    blocks: list[Block] = []
    for index, paragraph in enumerate(paragraphs):
        lines = [line.strip() for line in paragraph.split("\n") if line.strip()]
        prose: list[str] = []
        bullets: list[str] = []
        for line in lines:
            if line.startswith("- "):
                bullets.append(line[2:].strip())
            elif bullets:
                bullets[-1] += " " + line
            else:
                prose.append(line)
        if prose:
            first = index == 0 and not blocks
            style = (Style.CLAUSE if number else Style.BODY) if first else (
                Style.CLAUSE_CONTINUATION if number else Style.BODY)
            runs = _runs(" ".join(prose), item, numbers)
            blocks.append(Paragraph(
                style=style, runs=runs,
                number=number if first else None,
                bookmark=bookmark_for(item.id) if first else None,
                title=item.clause.title[language] if first and number else None,
            ))
        for position, bullet in enumerate(bullets, start=1):
            if lettering is None:
                blocks.append(Paragraph(style=Style.CLAUSE_BULLET if number else Style.BULLET,
                                        runs=_runs(bullet, item, numbers)))
            else:
                blocks.append(Paragraph(
                    style=Style.CLAUSE_LIST if lettering == "lower" else Style.RECITAL,
                    number=letter(position, upper=lettering == "upper"),
                    runs=_runs(bullet, item, numbers)))
    return blocks


def _runs(text: str, item: LoadedClause, numbers: dict[str, str | None]) -> list[Run]:
    runs: list[Run] = []
    position = 0
    for match in REF_PATTERN.finditer(text):
        if match.start() > position:
            runs.append(TextRun(text=text[position:match.start()]))
        target = match.group(1)
        number = numbers.get(target)
        if number is None:
            raise LibraryError(
                f"clause '{item.id}' refers to '{target}', which is "
                + ("not numbered" if target in numbers else "not included for this deal"),
                path=item.path, line=item.line, field=f"{item.id}.text",
                fix="refer only to numbered clauses that apply whenever this clause applies")
        runs.append(RefRun(target=target, bookmark=bookmark_for(target), number=number))
        position = match.end()
    if position < len(text):
        runs.append(TextRun(text=text[position:]))
    return runs


