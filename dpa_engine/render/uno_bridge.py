# mypy: ignore-errors
"""Keeps one headless LibreOffice running and converts documents to PDF on request.

Run by Debian's system Python (which has the `uno` module from python3-uno), not imported by
the package: `python3 uno_bridge.py SOFFICE PROFILE_DIR`. Protocol on stdin/stdout, one JSON
object per line: {"docx": "/abs/in.docx", "pdf": "/abs/out.pdf"} -> {"ok": true} or
{"ok": false, "error": "..."}. The first line it prints is {"ready": true}.
"""

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid

import uno
from com.sun.star.beans import PropertyValue


def _props(**values):
    result = []
    for name, value in values.items():
        prop = PropertyValue()
        prop.Name, prop.Value = name, value
        result.append(prop)
    return tuple(result)


def main() -> None:
    soffice, profile = sys.argv[1], sys.argv[2]
    pipe = f"dpa_{uuid.uuid4().hex}"
    office = subprocess.Popen(
        [soffice, "--headless", "--invisible", "--nologo", "--norestore", "--nodefault",
         "--nolockcheck", f"-env:UserInstallation=file://{profile}",
         f"--accept=pipe,name={pipe};urp;StarOffice.ComponentContext"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext(
        "com.sun.star.bridge.UnoUrlResolver", local)
    context = None
    deadline = time.monotonic() + 60
    while context is None:
        try:
            context = resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
        except Exception:
            if office.poll() is not None or time.monotonic() > deadline:
                print(json.dumps({"ready": False, "error": "LibreOffice did not start"}), flush=True)
                sys.exit(1)
            time.sleep(0.1)
    desktop = context.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", context)
    print(json.dumps({"ready": True}), flush=True)
    try:
        for line in sys.stdin:
            request = json.loads(line)
            try:
                document = desktop.loadComponentFromURL(
                    uno.systemPathToFileUrl(os.path.abspath(request["docx"])), "_blank", 0,
                    _props(Hidden=True, ReadOnly=True))
                if document is None:
                    raise RuntimeError("LibreOffice could not open the document")
                try:
                    document.storeToURL(uno.systemPathToFileUrl(os.path.abspath(request["pdf"])),
                                        _props(FilterName="writer_pdf_Export"))
                finally:
                    document.close(True)
                print(json.dumps({"ok": True}), flush=True)
            except Exception as exc:  # reported to the caller, the bridge keeps running
                print(json.dumps({"ok": False, "error": str(exc)}), flush=True)
    finally:
        with contextlib.suppress(Exception):
            desktop.terminate()
        try:
            office.wait(timeout=10)
        except subprocess.TimeoutExpired:
            office.kill()


if __name__ == "__main__":
    main()
