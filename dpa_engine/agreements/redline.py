"""Redline against the standard: what a deal's negotiation changed, as tracked changes.

The standard agreement is the same deal with its deviations removed (the provider's standard
terms, courts and law); the negotiated one is the deal as agreed. Both are assembled into
document models; their blocks are aligned (difflib over the blocks, then changed paragraphs
paired by similarity) and changed paragraphs compared word by word. The result is a revision
model (dpa_engine.document); render/tracked.py writes it as real Word revisions (w:ins / w:del).
"""

from __future__ import annotations

import datetime
import difflib
import re
from typing import Literal

from ..document import (
    Block,
    BlockRevision,
    Paragraph,
    ParagraphRevision,
    RedlineModel,
    RefRun,
    Revision,
    Run,
    Segment,
    TextRun,
)
from ..library import Library
from ..models import TermOverrides
from .assemble import assemble
from .deals import LoadedDeal
from .rules import Decision, decide

_WORDS = re.compile(r"\s+|[^\s]+")


def standard_deal(loaded: LoadedDeal) -> LoadedDeal:
    """The same deal with every negotiated deviation removed."""
    deal = loaded.deal.model_copy(update={"deviations": TermOverrides(), "courts_city": None})
    return LoadedDeal(deal=deal, provider=loaded.provider, deal_doc=loaded.deal_doc,
                      provider_doc=loaded.provider_doc)


def redline_model(loaded: LoadedDeal, library: Library, *, generated_at: datetime.datetime,
                  approved_deviations: frozenset[str] = frozenset()) -> RedlineModel:
    standard_loaded = standard_deal(loaded)
    standard = assemble(standard_loaded, library, decide(standard_loaded, library),
                        generated_at=generated_at)
    decision: Decision = decide(loaded, library)
    negotiated = assemble(loaded, library, decision, generated_at=generated_at,
                          approved_deviations=approved_deviations)
    return RedlineModel(document=negotiated, date=generated_at,
                        revisions=compare(standard.blocks, negotiated.blocks))


# --- comparison -----------------------------------------------------------------------------

def _run_key(run: Run) -> str:
    return f"\x00ref:{run.target}" if isinstance(run, RefRun) else run.text


def _block_key(block: Block) -> str:
    if isinstance(block, Paragraph):
        return "\x01".join([block.style, block.number or "", block.title or "",
                            *(_run_key(r) for r in block.runs)])
    return block.model_dump_json()


def _similarity(a: Paragraph, b: Paragraph) -> float:
    return difflib.SequenceMatcher(None, _tokens_key(a.runs), _tokens_key(b.runs),
                                   autojunk=False).ratio()


def compare(old: list[Block], new: list[Block]) -> list[Revision]:
    revisions: list[Revision] = []
    matcher = difflib.SequenceMatcher(None, [_block_key(b) for b in old],
                                      [_block_key(b) for b in new], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            revisions.extend(_same(b) for b in new[j1:j2])
        else:
            revisions.extend(_replace(old[i1:i2], new[j1:j2]))
    return revisions


def _same(block: Block) -> Revision:
    if isinstance(block, Paragraph):
        return ParagraphRevision(change="equal", paragraph=block)
    return BlockRevision(change="equal", block=block)


def _whole(block: Block, change: Literal["insert", "delete"]) -> Revision:
    if isinstance(block, Paragraph):
        return ParagraphRevision(change=change, paragraph=block)
    return BlockRevision(change=change, block=block)


def _replace(old: list[Block], new: list[Block]) -> list[Revision]:
    """Pair changed paragraphs in order by similarity; the rest is deleted or inserted."""
    out: list[Revision] = []
    position = 0
    for block in new:
        match = None
        if isinstance(block, Paragraph):
            for index in range(position, len(old)):
                candidate = old[index]
                if isinstance(candidate, Paragraph) and _similarity(candidate, block) >= 0.4:
                    match = index
                    break
        if match is None:
            out.append(_whole(block, "insert"))
            continue
        out.extend(_whole(b, "delete") for b in old[position:match])
        before = old[match]
        assert isinstance(before, Paragraph) and isinstance(block, Paragraph)
        out.append(_modified(before, block))
        position = match + 1
    out.extend(_whole(b, "delete") for b in old[position:])
    return out


def _tokens(runs: list[Run]) -> list[Run]:
    """Runs split into words and spaces; a cross-reference is one token."""
    tokens: list[Run] = []
    for run in runs:
        if isinstance(run, RefRun):
            tokens.append(run)
        else:
            tokens.extend(TextRun(text=word, bold=run.bold) for word in _WORDS.findall(run.text))
    return tokens


def _tokens_key(runs: list[Run]) -> list[str]:
    return [_run_key(t) for t in _tokens(runs)]


# An unchanged stretch shorter than this (in words) between two changes is folded into them,
# so a reworded sentence reads as one deletion and one insertion, not a word-by-word mosaic.
_MIN_EQUAL_WORDS = 3


def _segments(old: list[Run], new: list[Run]) -> list[Segment]:
    a, b = _tokens(old), _tokens(new)
    matcher = difflib.SequenceMatcher(None, [_run_key(t) for t in a], [_run_key(t) for t in b],
                                      autojunk=False)
    # chunks: [equal?, old tokens, new tokens]
    chunks: list[tuple[bool, list[Run], list[Run]]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        equal = tag == "equal"
        if chunks and not equal and not chunks[-1][0]:
            _, old_part, new_part = chunks.pop()
            chunks.append((False, old_part + a[i1:i2], new_part + b[j1:j2]))
        else:
            chunks.append((equal, a[i1:i2], b[j1:j2]))
    folded: list[tuple[bool, list[Run], list[Run]]] = []
    for index, (equal, old_part, new_part) in enumerate(chunks):
        between_changes = 0 < index < len(chunks) - 1
        if equal and between_changes and _words(new_part) < _MIN_EQUAL_WORDS:
            equal = False
        if folded and not equal and not folded[-1][0]:
            _, previous_old, previous_new = folded.pop()
            folded.append((False, previous_old + old_part, previous_new + new_part))
        else:
            folded.append((equal, old_part, new_part))
    segments: list[Segment] = []
    for equal, old_part, new_part in folded:
        if equal:
            segments.append(Segment(change="equal", runs=_merged(new_part)))
            continue
        if old_part:
            segments.append(Segment(change="delete", runs=_merged(old_part)))
        if new_part:
            segments.append(Segment(change="insert", runs=_merged(new_part)))
    return segments


def _words(tokens: list[Run]) -> int:
    return sum(1 for t in tokens if isinstance(t, RefRun) or t.text.strip())


def _merged(tokens: list[Run]) -> list[Run]:
    """Adjacent words with the same formatting back into one run."""
    runs: list[Run] = []
    for token in tokens:
        last = runs[-1] if runs else None
        if (isinstance(token, TextRun) and isinstance(last, TextRun)
                and last.bold == token.bold):
            runs[-1] = TextRun(text=last.text + token.text, bold=last.bold)
        else:
            runs.append(token)
    return runs


def _modified(old: Paragraph, new: Paragraph) -> ParagraphRevision:
    def title(p: Paragraph) -> list[Run]:
        return [TextRun(text=p.title + ". ", bold=True)] if p.title else []

    prefix = _segments(title(old), title(new)) if old.title != new.title else []
    return ParagraphRevision(
        change="modify", paragraph=new, prefix=prefix,
        old_number=old.number if old.number != new.number else None,
        segments=_segments(old.runs, new.runs))


__all__ = ["compare", "redline_model", "standard_deal"]
