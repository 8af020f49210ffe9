"""A group entity limited to some countries: the agreement's Annex IV and the change-notice
plan apply the same rule (library.facts.subprocessors_for)."""

from __future__ import annotations

import datetime
from pathlib import Path

from ruamel.yaml import YAML

from dpa_engine import load_library
from dpa_engine.notices import Proposal, import_deals, plan_change, propose_change
from dpa_engine.storage import close_databases
from dpa_engine.storage.database import open_database
from tests.conftest import EXAMPLES, LIBRARY
from tests.notices.helpers import voicebot

NOW = datetime.datetime(2026, 3, 25, 9, 0, tzinfo=datetime.UTC)


def _french_customer_deal(folder: Path) -> Path:
    yaml = YAML(typ="safe")
    data = yaml.load((EXAMPLES / "deal-standard-fr.yaml").read_text(encoding="utf-8"))
    data["provider"] = str(EXAMPLES / "provider.yaml")
    data["customer"].update(
        name="Librairie de Paris", enterprise_number="552 100 554", vat_number=None,
        registered_office={"street": "Rue de Rivoli 1", "postal_code": "75001", "city": "Paris",
                           "country": "FR"},
        notice_emails=["privacy@librairiedeparis.example"])
    path = folder / "deal-paris-fr.yaml"
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(data, handle)
    return path


def test_the_plan_notifies_only_customers_in_the_countries_the_group_entity_serves(
        tmp_path: Path) -> None:
    library = load_library(LIBRARY)
    db = open_database(f"sqlite:///{tmp_path / 'dpa.db'}")
    try:
        deals = [*sorted(EXAMPLES.glob("deal-*.yaml")), _french_customer_deal(tmp_path)]
        import_deals(db, deals, library, actor="legal@test", now=NOW)
        entity = voicebot(id="voxalis-nl", name="Voxalis Nederland",
                          legal_entity="Voxalis Nederland B.V.", country="NL", locations=["NL"],
                          transfer=None, services=["customer-service"], group_entity=True,
                          serves_countries=["NL", "FR"])
        change = propose_change(db, Proposal(action="add", subprocessor=entity, target=None,
                                             effective_on=datetime.date(2026, 6, 1)),
                                actor="legal@test", now=NOW)
        plan = plan_change(db, change.id, actor="legal@test", now=NOW)
    finally:
        close_databases()
    affected = {e.customer for e in plan.affected}
    unaffected = {u.customer for u in plan.unaffected}
    assert affected == {"groenveld-energie", "librairie-de-paris"}  # NL and FR customers
    assert {"bakkerij-peeters", "librairie-dumont"} <= unaffected   # BE customers
