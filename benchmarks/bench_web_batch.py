"""The web app's batch upload: N deal files in one request, each made and generated.

    python benchmarks/bench_web_batch.py [--deals 50]

Creates the app on a fresh SQLite database (library and template loaded once, as in a
worker), logs in an account manager and posts N variants of examples/deal-standard-nl.yaml
to POST /agreements/batch (in process, through Starlette's test client), then downloads the
.zip of the .docx. Prints `web: batch upload of N deals X s (Y ms per deal), .zip Z ms`.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402

from dpa_engine.web import WebSettings, create_app  # noqa: E402
from dpa_engine.web.users import Role, add_user, start_session  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=50)
    count = parser.parse_args().deals
    deal = (ROOT / "examples" / "deal-standard-nl.yaml").read_text(encoding="utf-8")
    files = [("deals", (f"deal-{n}.yaml", re.sub(r"(?m)^  name: .*$", f"  name: Klant {n}",
                                                 deal, count=1).encode(), "application/yaml"))
             for n in range(count)]
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(WebSettings(provider=ROOT / "examples" / "provider.yaml",
                                     database=f"sqlite:///{folder}/web.db"))
        with app.state.web.db.transaction() as session:
            user = add_user(session, "am@provider.example", "a long enough password",
                            Role.account_manager)
            token = start_session(session, user)
        client = TestClient(app, follow_redirects=False)
        client.cookies.set("dpa_session", token)
        found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/agreements").text)
        assert found is not None
        started = time.perf_counter()
        page = client.post("/agreements/batch", data={"csrf_token": found.group(1)}, files=files)
        seconds = time.perf_counter() - started
        assert page.status_code == 200 and f"{count} created and generated" in page.text, page.text
        link = re.search(r'href="(/agreements/batch/agreements\.zip\?ids=[0-9,]+)"', page.text)
        assert link is not None
        started = time.perf_counter()
        download = client.get(link.group(1))
        zipped = (time.perf_counter() - started) * 1000
        assert download.status_code == 200
    print(f"web: batch upload of {count} deals {seconds:.1f} s "
          f"({seconds * 1000 / count:.0f} ms per deal), .zip {zipped:.0f} ms")


if __name__ == "__main__":
    main()
