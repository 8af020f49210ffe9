"""Scenario tests for legal, written as YAML (tests/scenarios/*.yaml), run by pytest.

A scenario names a deal file (relative to the scenario) or a base deal plus changes, and
what legal expects: clause ids included / excluded, the deviations (parameter names), and
optionally an error message fragment.

    description: Dutch law brings Dutch courts and the Dutch authority
    deal: ../../examples/deal-negotiated-nl.yaml
    changes:                     # optional: deep-merged into the deal before evaluation
      deviations: {objection_window_days: 10}
    expect:
      included: [final.governing-law-nl]
      excluded: [final.governing-law-be]
      deviations: [governing_law, objection_window_days, liability_cap_total, liability_cap_other]
      error: "..."               # instead of the above: the deal must be refused with this text
      text_contains: ["..."]     # the assembled agreement contains each (no-break spaces as spaces)
      text_excludes: ["..."]     # ... and none of these
      warnings: ["..."]          # `dpa explain` warns with text containing each

`provider_changes:` is deep-merged into the deal's provider profile the same way (a list
replaces the list; `subprocessors: []` empties the register).
"""

from __future__ import annotations

import datetime
import tempfile
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from dpa_engine import DpaError, decide, load_deal, load_library
from dpa_engine.agreements.assemble import assemble
from dpa_engine.document import Paragraph, SignatureBlock, Table

_LIBRARY = Path(__file__).resolve().parent.parent / "clauses"
_KEYS = {"description", "deal", "changes", "provider_changes", "expect"}
_EXPECT_KEYS = {"included", "excluded", "deviations", "error", "facts", "text_contains",
                "text_excludes", "warnings"}
_FIXED_TIME = datetime.datetime(2026, 11, 23, 9, 30, tzinfo=datetime.UTC)


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix == ".yaml" and file_path.parent.name == "scenarios":
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Any:
        data = YAML(typ="safe").load(self.path.read_text(encoding="utf-8"))
        scenarios = data if isinstance(data, list) else [data]
        for index, scenario in enumerate(scenarios):
            name = scenario.get("description", f"scenario {index + 1}")
            yield ScenarioItem.from_parent(self, name=name, spec=scenario)


class ScenarioError(Exception):
    pass


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class ScenarioItem(pytest.Item):
    def __init__(self, *, spec: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec

    def runtest(self) -> None:
        unknown = set(self.spec) - _KEYS | set(self.spec.get("expect", {})) - _EXPECT_KEYS
        if unknown:
            raise ScenarioError(f"unknown scenario keys: {', '.join(sorted(unknown))}")
        deal_path = (self.path.parent / self.spec["deal"]).resolve()
        expect = self.spec["expect"]
        with tempfile.TemporaryDirectory() as tmp:
            if self.spec.get("changes") or self.spec.get("provider_changes"):
                yaml = YAML(typ="safe")
                data = _merge(yaml.load(deal_path.read_text(encoding="utf-8")),
                              self.spec.get("changes") or {})
                provider_path = (deal_path.parent / data["provider"]).resolve()
                if self.spec.get("provider_changes"):
                    profile = _merge(yaml.load(provider_path.read_text(encoding="utf-8")),
                                     self.spec["provider_changes"])
                    provider_path = Path(tmp) / "provider.yaml"
                    with provider_path.open("w", encoding="utf-8") as handle:
                        yaml.dump(profile, handle)
                data["provider"] = str(provider_path)
                deal_path = Path(tmp) / deal_path.name
                with deal_path.open("w", encoding="utf-8") as handle:
                    yaml.dump(data, handle)
            try:
                library = load_library(_LIBRARY)
                loaded = load_deal(deal_path)
                decision = decide(loaded, library)
                text = ""
                if {"text_contains", "text_excludes", "error"} & set(expect):
                    text = _text(assemble(loaded, library, decision, generated_at=_FIXED_TIME))
            except DpaError as exc:
                if "error" in expect and expect["error"] in exc.message:
                    return
                raise ScenarioError(f"deal refused: {exc.message}") from None
        if "error" in expect:
            raise ScenarioError(f"expected the error '{expect['error']}', but the deal passed")
        included = set(decision.included_ids)
        problems = [f"expected clause {c} to be included" for c in expect.get("included", [])
                    if c not in included]
        problems += [f"expected clause {c} to be left out" for c in expect.get("excluded", [])
                     if c in included]
        if "deviations" in expect:
            got = sorted(d.parameter for d in decision.deviations)
            if got != sorted(expect["deviations"]):
                problems.append(f"expected deviations {sorted(expect['deviations'])}, got {got}")
        for name, value in expect.get("facts", {}).items():
            if decision.facts.get(name) != value:
                problems.append(f"expected fact {name}={value!r}, got {decision.facts.get(name)!r}")
        problems += [f"expected the text to contain {t!r}" for t in expect.get("text_contains", [])
                     if t not in text]
        problems += [f"expected the text not to contain {t!r}"
                     for t in expect.get("text_excludes", []) if t in text]
        problems += [f"expected a warning containing {w!r}, got {decision.warnings}"
                     for w in expect.get("warnings", [])
                     if not any(w in warning for warning in decision.warnings)]
        if problems:
            raise ScenarioError("; ".join(problems))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
                     ) -> str:
        if isinstance(excinfo.value, ScenarioError):
            return f"{self.path.name}: {self.name}: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario: {self.name}"


def _text(model: Any) -> str:
    """The agreement's text, one paragraph or table cell per line, no-break spaces as spaces."""
    lines: list[str] = []
    for block in model.blocks:
        if isinstance(block, Paragraph):
            lines.append("".join(getattr(run, "text", None) or getattr(run, "number", "")
                                 for run in block.runs))
        elif isinstance(block, Table):
            lines.extend(block.header or [])
            lines.extend(line for row in block.rows for cell in row for line in cell)
        elif isinstance(block, SignatureBlock):
            for party in block.parties:
                lines.append(party.heading)
                lines.extend(f"{f.label} {f.value}".rstrip() for f in [*party.above, *party.below])
                lines.append(party.sign_label)
    return "\n".join(lines).replace("\u00a0", " ").replace("\u202f", " ")
