"""Loading a deal file and the provider profile it names, with cross-checks between them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import DpaError, InputError, did_you_mean
from ..models import Deal, ProviderProfile
from ..yamlsource import YamlDocument, load_yaml, read_input, validate

_DEAL_MARKER = re.compile(r"^customer:", re.MULTILINE)


@dataclass(frozen=True)
class FolderScan:
    """The *.yaml entries of a folder: deal files (YAML with a `customer:` key) and entries
    that cannot be read at all (a folder, a dangling link, a pipe, a file not UTF-8), each
    with its one-line error, so that one bad entry never stops the others."""

    deals: list[Path]
    unreadable: list[tuple[Path, DpaError]]


def scan_deal_folder(folder: Path) -> FolderScan:
    deals: list[Path] = []
    unreadable: list[tuple[Path, DpaError]] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            text = read_input(path, what="deal file")
        except DpaError as exc:
            unreadable.append((path, exc))
            continue
        if _DEAL_MARKER.search(text):
            deals.append(path)
    return FolderScan(deals, unreadable)


@dataclass(frozen=True)
class LoadedDeal:
    """A validated deal with its validated provider profile, and both files for line look-ups."""

    deal: Deal
    provider: ProviderProfile
    deal_doc: YamlDocument
    provider_doc: YamlDocument

    @property
    def deal_path(self) -> Path:
        return self.deal_doc.path

    @property
    def provider_path(self) -> Path:
        return self.provider_doc.path

    def deal_error(self, loc: tuple[str | int, ...], what: str, fix: str) -> InputError:
        return InputError(what, path=self.deal_path, line=self.deal_doc.line_of(loc),
                          field=".".join(map(str, loc)), fix=fix)


def load_provider(path: Path) -> tuple[ProviderProfile, YamlDocument]:
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise InputError("a provider profile must be a mapping of fields", path=path, line=1,
                         fix="start with 'name:', 'legal_form:', 'enterprise_number:' ...")
    profile = validate(ProviderProfile, doc)
    _check_register(profile, doc)
    return profile, doc


def _check_register(profile: ProviderProfile, doc: YamlDocument) -> None:
    """Ids are unique and every sub-processor names services the provider offers."""
    def error(loc: tuple[str | int, ...], what: str, fix: str) -> InputError:
        return InputError(what, path=doc.path, line=doc.line_of(loc),
                          field=".".join(map(str, loc)), fix=fix)

    sections = (("services", [s.id for s in profile.services]),
                ("subprocessors", [s.id for s in profile.subprocessors]))
    for section, ids in sections:
        for index, item_id in enumerate(ids):
            if item_id in ids[:index]:
                raise error((section, index, "id"), f"duplicate id '{item_id}' in {section}",
                            "give each entry its own id")
    offered = {s.id for s in profile.services}
    for index, sub in enumerate(profile.subprocessors):
        for position, service in enumerate(sub.services):
            if service not in offered:
                raise error(("subprocessors", index, "services", position),
                            f"sub-processor '{sub.id}' uses unknown service '{service}'",
                            did_you_mean(service, offered)
                            or "use one of " + ", ".join(sorted(offered)))


class ProviderCache:
    """Provider profiles already loaded, keyed by path and modification time (batch runs share
    one profile across hundreds of deals)."""

    def __init__(self) -> None:
        self._profiles: dict[tuple[Path, int], tuple[ProviderProfile, YamlDocument]] = {}

    def load(self, path: Path) -> tuple[ProviderProfile, YamlDocument]:
        key = (path, path.stat().st_mtime_ns)
        if key not in self._profiles:
            self._profiles[key] = load_provider(path)
        return self._profiles[key]


def load_deal(path: Path, providers: ProviderCache | None = None) -> LoadedDeal:
    """Load and check a deal file; every problem is an InputError naming file:line and field."""
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise InputError("a deal file must be a mapping of fields", path=path, line=1,
                         fix="start with 'provider:', 'customer:', 'language:' ...")
    deal = validate(Deal, doc)
    try:
        provider_path = (path.parent / deal.provider).resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
        provider_path = path.parent / deal.provider  # not a file: reported just below
    if not provider_path.is_file():
        raise InputError(f"provider profile '{deal.provider}' not found", path=path,
                         line=doc.line_of(("provider",)), field="provider",
                         fix=f"give the profile's path relative to {path.parent}")
    provider, provider_doc = (providers.load(provider_path) if providers
                              else load_provider(provider_path))
    loaded = LoadedDeal(deal=deal, provider=provider, deal_doc=doc, provider_doc=provider_doc)
    _check_services(loaded)
    return loaded


def _check_services(loaded: LoadedDeal) -> None:
    deal, provider = loaded.deal, loaded.provider
    offered = {s.id for s in provider.services}
    for index, service in enumerate(deal.services):
        if service not in offered:
            raise loaded.deal_error(
                ("services", index), f"unknown service '{service}' (not offered in "
                f"{loaded.provider_path.name})",
                did_you_mean(service, offered) or "use one of " + ", ".join(sorted(offered)))
        if service in deal.services[:index]:
            raise loaded.deal_error(("services", index), f"service '{service}' is listed twice",
                                    "list each service once")
    described: set[str] = set()
    for index, processing in enumerate(deal.processing):
        if processing.service not in deal.services:
            raise loaded.deal_error(
                ("processing", index, "service"),
                f"processing for service '{processing.service}', which the deal does not buy",
                did_you_mean(processing.service, set(deal.services))
                or "add it under 'services:' or remove this processing entry")
        if processing.service in described:
            raise loaded.deal_error(
                ("processing", index, "service"),
                f"service '{processing.service}' is described twice",
                "describe each service's processing once")
        described.add(processing.service)
    for index, service in enumerate(deal.services):
        if service not in described:
            raise loaded.deal_error(
                ("services", index), f"no processing described for service '{service}'",
                f"add an entry under 'processing:' with 'service: {service}' (purpose, nature, "
                "data_subjects, personal_data, retention, duration)")
