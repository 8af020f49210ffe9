"""Writes .docx agreements from the base template with docxtpl's template language.

The template is prepared once per renderer: docxtpl cleans the Word XML (`patch_xml`) and
the Jinja templates are compiled once; each agreement then only fills values and zips.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from docxtpl import DocxTemplate
from jinja2 import StrictUndefined, Template, TemplateError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from ..document import DocumentModel, DocumentProperties
from ..errors import RenderError
from ..files import write_atomically
from .verify import check_parts, check_xml
from .wordml import body_xml
from .ziparchive import ZipEntry, build_zip, deflate

_RENDERED_PART = re.compile(r"^word/(document|header\d*|footer\d*)\.xml$")
TEMPLATE_NAMES = frozenset(
    {"body", "header_title", "draft", "draft_marker", "page_label", "page_of_label"}
)
_CUSTOM_TYPE = "application/vnd.openxmlformats-officedocument.custom-properties+xml"
_CUSTOM_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties"
_LANGUAGE_TAGS = {"nl": "nl-BE", "fr": "fr-BE", "en": "en-GB"}
_STYLES = "word/styles.xml"


@dataclass(frozen=True)
class ExtraPart:
    """A package part added to one agreement (e.g. the generation manifest), related from the
    package root so that Word and LibreOffice keep ignoring it."""

    name: str  # e.g. "dpa/manifest.json"
    data: bytes
    content_type: str
    relationship_type: str
    reusable: bool = False  # the same bytes recur across agreements: deflate them once


class DocxRenderer:
    """A base template prepared once, rendering any number of agreements."""

    def __init__(self, template_path: Path) -> None:
        self.template_path = template_path
        try:
            source = DocxTemplate(str(template_path))
            source.init_docx()
            archive = zipfile.ZipFile(template_path)
        except Exception as exc:  # docx's own errors for a file that is not a .docx, too
            raise RenderError(f"cannot open the base template ({_first_line(exc)})",
                              path=template_path,
                              fix="point --template at a .docx made from templates/agreement.docx"
                              ) from None
        try:
            self._prepare(source, archive)
        except (RenderError, MemoryError):
            raise
        except Exception as exc:
            raise RenderError(f"cannot read the base template ({_first_line(exc)})",
                              path=template_path,
                              fix="point --template at a .docx made from templates/agreement.docx"
                              ) from None

    def _prepare(self, source: DocxTemplate, archive: zipfile.ZipFile) -> None:
        template_path = self.template_path
        env = ImmutableSandboxedEnvironment(autoescape=True, undefined=StrictUndefined)
        self._templates: dict[str, Template] = {}
        # In order: a prepared (already deflated) entry, or the name of a part made per agreement.
        self._parts: list[ZipEntry | str] = []
        # The package-level XML, kept raw so that extra parts can be declared per agreement.
        self._package_xml: dict[str, bytes] = {}
        self._reusable: dict[tuple[str, str], ZipEntry] = {}
        # The styles carry the document language (hyphenation, spelling): one entry per language.
        self._styles = b""
        self._styles_in: dict[str, ZipEntry] = {}
        with archive:
            for info in archive.infolist():
                name = info.filename
                data: bytes | None = archive.read(info)
                if _RENDERED_PART.match(name):
                    self._templates[name] = self._compile(source, env, name, data or b"")
                    self._parts.append(name)
                    continue
                if name in ("docProps/core.xml", "docProps/custom.xml", "docProps/thumbnail.jpeg"):
                    continue  # properties are written per agreement; a thumbnail would be stale
                if name == _STYLES:
                    self._styles = data or b""
                    self._parts.append(name)
                    continue
                if name == "word/settings.xml":
                    data = _with_update_fields(data or b"")
                elif name == "[Content_Types].xml":
                    data = _with_custom_content_type(data or b"")
                elif name == "_rels/.rels":
                    data = _without_thumbnail(_with_custom_relationship(data or b""))
                if name in ("[Content_Types].xml", "_rels/.rels"):
                    self._package_xml[name] = data or b""
                check_parts([(name, data or b"")], path=template_path)
                self._parts.append(deflate(name, data or b""))
        self._parts.extend(["docProps/core.xml", "docProps/custom.xml"])
        if "word/document.xml" not in self._templates:
            raise RenderError("the base template has no word/document.xml", path=template_path)

    def _compile(self, source: DocxTemplate, env: ImmutableSandboxedEnvironment, name: str,
                 data: bytes) -> Template:
        xml = source.patch_xml(data.decode("utf-8"))
        xml = re.sub(r"<w:p([ >])", r"\n<w:p\1", xml)
        try:
            tree = env.parse(xml)
        except TemplateError as exc:
            raise RenderError(f"template syntax error in {name}: {exc}", path=self.template_path,
                              fix="fix the {{ }} / {% %} tags in Word") from None
        unknown = meta.find_undeclared_variables(tree) - TEMPLATE_NAMES
        if unknown:
            raise RenderError(
                f"{name} uses unknown placeholder(s) {', '.join(sorted(unknown))}",
                path=self.template_path,
                fix="use only " + ", ".join(sorted(TEMPLATE_NAMES)))
        if name == "word/document.xml" and "body" not in meta.find_undeclared_variables(tree):
            raise RenderError("the template body has no {{p body }} paragraph",
                              path=self.template_path, fix="add a paragraph '{{p body }}'")
        return env.from_string(tree)

    def render_bytes(self, model: DocumentModel, *, extra_parts: Sequence[ExtraPart] = (),
                     body: str | None = None) -> bytes:
        """The agreement as .docx bytes. `body` replaces the body made from the model (a
        redline); `extra_parts` are added to the package (a manifest)."""
        context: dict[str, Any] = {
            "body": Markup(body if body is not None else body_xml(model)),
            "header_title": model.header_title,
            "draft": model.draft,
            "draft_marker": model.draft_marker,
            "page_label": model.page_label,
            "page_of_label": model.page_of_label,
        }
        entries: list[ZipEntry] = []
        for part in self._parts:
            if isinstance(part, ZipEntry):
                entries.append(part)
                continue
            if part == _STYLES:
                entries.append(self._styles_entry(model.language))
                continue
            raw = self._generated(part, model, context)
            check_xml(raw, what=f"the part {part}")  # never a .docx Word cannot open
            entries.append(deflate(part, raw))
        if extra_parts:
            entries = [self._declaring(entry, extra_parts) for entry in entries]
            entries.extend(self._extra_entry(part) for part in extra_parts)
        return build_zip(entries)

    def _styles_entry(self, language: str) -> ZipEntry:
        if language not in self._styles_in:
            self._styles_in[language] = deflate(
                _STYLES, with_language(self._styles, _LANGUAGE_TAGS[language]))
        return self._styles_in[language]

    def _extra_entry(self, part: ExtraPart) -> ZipEntry:
        if not part.reusable:
            return deflate(part.name, part.data)
        key = (part.name, hashlib.sha256(part.data).hexdigest())
        if key not in self._reusable:
            if len(self._reusable) >= 8:
                self._reusable.pop(next(iter(self._reusable)))
            self._reusable[key] = deflate(part.name, part.data)
        return self._reusable[key]

    def _declaring(self, entry: ZipEntry, extra_parts: Sequence[ExtraPart]) -> ZipEntry:
        name = entry.name.decode("utf-8")
        if name == "[Content_Types].xml":
            xml = self._package_xml[name].decode("utf-8")
            overrides = "".join(
                f'<Override PartName={quoteattr("/" + p.name)} '
                f"ContentType={quoteattr(p.content_type)}/>" for p in extra_parts)
            return deflate(name, xml.replace("</Types>", overrides + "</Types>").encode())
        if name == "_rels/.rels":
            xml = self._package_xml[name].decode("utf-8")
            rels = "".join(
                f'<Relationship Id="rIdDpaExtra{i}" Type={quoteattr(p.relationship_type)} '
                f"Target={quoteattr(p.name)}/>" for i, p in enumerate(extra_parts, start=1))
            return deflate(name, xml.replace("</Relationships>", rels + "</Relationships>")
                           .encode())
        return entry

    @staticmethod
    def read_part(docx: Path, name: str) -> bytes | None:
        """One part of a .docx (None when absent)."""
        try:
            with zipfile.ZipFile(docx) as archive:
                return archive.read(name) if name in archive.namelist() else None
        except (OSError, zipfile.BadZipFile) as exc:
            raise RenderError(f"cannot read the .docx ({exc})", path=docx,
                              fix="give a .docx written by dpa generate") from None

    def _generated(self, name: str, model: DocumentModel, context: dict[str, Any]) -> bytes:
        if name == "docProps/core.xml":
            return core_properties_xml(model.properties).encode("utf-8")
        if name == "docProps/custom.xml":
            return custom_properties_xml(model.properties.custom).encode("utf-8")
        xml = self._templates[name].render(context)
        return re.sub(r"\n<w:p([ >])", r"<w:p\1", xml).encode("utf-8")

    def render(self, model: DocumentModel, path: Path) -> None:
        write_atomically(path, self.render_bytes(model))


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _with_update_fields(settings: bytes) -> bytes:
    """Ask Word to refresh fields (cross-references, page numbers) when it opens the file."""
    xml = settings.decode("utf-8")
    if "<w:updateFields" in xml:
        return settings
    # Schema order: updateFields comes right before these elements.
    for follower in ("<w:hdrShapeDefaults", "<w:footnotePr", "<w:endnotePr", "<w:compat",
                     "<w:docVars", "<w:rsids", "<m:mathPr", "<w:themeFontLang",
                     "<w:clrSchemeMapping", "<w:shapeDefaults", "<w:decimalSymbol",
                     "<w:listSeparator"):
        if follower in xml:
            return xml.replace(follower, '<w:updateFields w:val="true"/>' + follower, 1).encode()
    return xml.replace("</w:settings>", '<w:updateFields w:val="true"/></w:settings>').encode()


def with_language(styles: bytes, tag: str) -> bytes:
    """The document's language (e.g. nl-BE) in the style defaults: Word and LibreOffice pick
    the hyphenation patterns and the spelling dictionary by it."""
    xml = styles.decode("utf-8")
    lang = f'<w:lang w:val="{tag}" w:eastAsia="{tag}" w:bidi="ar-SA"/>'
    match = re.search(r"<w:rPrDefault>\s*<w:rPr>(.*?)</w:rPr>", xml, re.S)
    if match is None:
        defaults = f"<w:rPrDefault><w:rPr>{lang}</w:rPr></w:rPrDefault>"
        if "<w:docDefaults>" in xml:
            return xml.replace("<w:docDefaults>", "<w:docDefaults>" + defaults, 1).encode()
        return re.sub(r"(<w:styles[^>]*>)", r"\1<w:docDefaults>" + defaults + "</w:docDefaults>",
                      xml, count=1).encode()
    props = match.group(1)
    if "<w:lang " in props:
        props = re.sub(r"<w:lang [^>]*/>", lang, props)
    else:  # w:lang is among the last run properties: before w:eastAsianLayout and later ones
        follower = re.search(r"<w:(eastAsianLayout|specVanish|oMath)\b", props)
        at = follower.start() if follower else len(props)
        props = props[:at] + lang + props[at:]
    return (xml[:match.start(1)] + props + xml[match.end(1):]).encode()


def _without_thumbnail(rels: bytes) -> bytes:
    return re.sub(rb"<Relationship [^>]*Target=\"docProps/thumbnail.jpeg\"[^>]*/>", b"", rels)


def _with_custom_content_type(types: bytes) -> bytes:
    xml = types.decode("utf-8")
    if "/docProps/custom.xml" in xml:
        return types
    override = f'<Override PartName="/docProps/custom.xml" ContentType="{_CUSTOM_TYPE}"/>'
    return xml.replace("</Types>", override + "</Types>").encode()


def _with_custom_relationship(rels: bytes) -> bytes:
    xml = rels.decode("utf-8")
    if _CUSTOM_REL in xml:
        return rels
    rel = f'<Relationship Id="rIdDpaCustom" Type="{_CUSTOM_REL}" Target="docProps/custom.xml"/>'
    return xml.replace("</Relationships>", rel + "</Relationships>").encode()


def core_properties_xml(props: DocumentProperties) -> str:
    stamp = props.generated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
        'core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:dcterms="http://purl.org/dc/terms/" xmlns:dcmitype="http://purl.org/dc/dcmitype/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<dc:title>{escape(props.title)}</dc:title>"
        f"<dc:subject>{escape(props.subject)}</dc:subject>"
        f"<dc:creator>{escape(props.creator)}</dc:creator>"
        f"<cp:keywords>{escape(props.keywords)}</cp:keywords>"
        f"<dc:language>{_LANGUAGE_TAGS[props.language]}</dc:language>"
        f"<cp:lastModifiedBy>dpa-engine</cp:lastModifiedBy>"
        f"<cp:revision>1</cp:revision>"
        f"<cp:version>{escape(props.version)}</cp:version>"
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{stamp}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{stamp}</dcterms:modified>'
        "</cp:coreProperties>"
    )


def custom_properties_xml(custom: dict[str, str]) -> str:
    items = "".join(
        f'<property fmtid="{{D5CDD505-2E9C-101B-9397-08002B2CF9AE}}" pid="{pid}" '
        f"name={quoteattr(name)}><vt:lpwstr>{escape(value)}</vt:lpwstr></property>"
        for pid, (name, value) in enumerate(custom.items(), start=2)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
        'custom-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/'
        f'docPropsVTypes">{items}</Properties>'
    )
