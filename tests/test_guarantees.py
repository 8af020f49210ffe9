"""Issue 17: text no document can hold is refused where it enters; every file is checked
before it is moved into place; outputs never replace an input; a set of outputs is written
whole or not at all; inputs are capped and only regular files are read."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from dpa_engine import Engine
from dpa_engine.agreements.assemble import assemble
from dpa_engine.agreements.deals import load_deal
from dpa_engine.errors import InputError, LibraryError, RenderError
from dpa_engine.files import OutputSet, write_atomically
from dpa_engine.library import load_library
from dpa_engine.render.verify import check_docx, check_xml
from dpa_engine.safetext import xml_safe_text
from dpa_engine.yamlsource import MAX_INPUT_BYTES, load_yaml
from tests.conftest import EXAMPLES, FIXED_TIME, LIBRARY, TEMPLATE

DEAL = EXAMPLES / "deal-standard-nl.yaml"
DPA = Path(sys.executable).parent / "dpa"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".old")))


class DescribeTextAtTheEdge:
    @pytest.mark.parametrize("char", ["\x01", "\x07", "\x1b", "\x00", "\x7f", "\ufffe", "\uffff"])
    def it_refuses_an_option_value_naming_the_field(self, char: str) -> None:
        with pytest.raises(InputError) as caught:
            xml_safe_text(f"Acme{char}", field="--objection")
        message = caught.value.message
        assert message.startswith("--objection: contains the invisible character U+")
        assert "\n" not in message

    @pytest.mark.parametrize("text", ["tab\there", "two\nlines", "crlf\r\n", "RTL \u202e x",
                                      "{{ 7*7 }}", "<w:p>", "emoji 🙂"])
    def it_keeps_tab_newline_and_visible_text(self, text: str) -> None:
        assert xml_safe_text(text, field="x") == text

    def it_refuses_a_control_character_written_as_an_escape(self, tmp_path: Path) -> None:
        path = tmp_path / "x.yaml"
        path.write_text('a:\n  b: ["ok", "bad\\x1b"]\n', encoding="utf-8")
        with pytest.raises(InputError) as caught:
            load_yaml(path)
        assert caught.value.line == 2 and caught.value.field == "a.b.1"

    def it_refuses_a_control_character_in_a_key(self, tmp_path: Path) -> None:
        path = tmp_path / "x.yaml"
        path.write_text('"ke\\ay": 1\n', encoding="utf-8")
        with pytest.raises(InputError, match="key contains"):
            load_yaml(path)

    def it_refuses_a_control_character_in_a_clause_file(self, tmp_path: Path) -> None:
        library = tmp_path / "clauses"
        shutil.copytree(LIBRARY, library)
        path = library / "scope.yaml"
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("article:", 'x_bad: "\\x07"\narticle:', 1), encoding="utf-8")
        with pytest.raises(LibraryError, match="U\\+0007"):
            load_library(library)


class DescribeOutputCheck:
    def it_refuses_xml_that_does_not_parse(self) -> None:
        with pytest.raises(RenderError, match="not well-formed"):
            check_xml(b"<a>\x01</a>", what="the feed")

    def it_refuses_a_docx_with_a_broken_part(self) -> None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("word/document.xml", "<w:document>\x07</w:document>")
        with pytest.raises(RenderError, match=r"word/document\.xml"):
            check_docx(buffer.getvalue())

    def it_never_renders_a_part_word_cannot_open(self, engine: Engine) -> None:
        """Even text that bypassed input validation cannot produce a corrupt .docx."""
        loaded = load_deal(DEAL)
        model = assemble(loaded, engine.library, engine.decide(loaded), generated_at=FIXED_TIME,
                         approved_deviations=frozenset())
        broken = model.model_copy(update={"header_title": "Bakkerij\x01"})
        with pytest.raises(RenderError, match="not well-formed"):
            engine.renderer.render_bytes(broken)

    def it_refuses_a_template_that_is_not_a_docx(self, tmp_path: Path) -> None:
        fake = tmp_path / "agreement.docx"
        fake.write_text("not a zip", encoding="utf-8")
        with pytest.raises(RenderError, match="cannot open the base template"):
            Engine.load(LIBRARY, fake)


class DescribeInputLimits:
    def it_refuses_a_folder_named_like_a_yaml_file(self, tmp_path: Path) -> None:
        (tmp_path / "dir.yaml").mkdir()
        with pytest.raises(InputError, match="folder"):
            load_yaml(tmp_path / "dir.yaml")

    def it_refuses_a_fifo_without_blocking(self, tmp_path: Path) -> None:
        fifo = tmp_path / "deal.yaml"
        os.mkfifo(fifo)
        with pytest.raises(InputError, match="not a regular file"):
            load_yaml(fifo)

    def it_refuses_a_device(self) -> None:
        with pytest.raises(InputError, match="not a regular file"):
            load_yaml(Path("/dev/zero"))

    def it_refuses_a_file_over_the_cap_naming_it(self, tmp_path: Path) -> None:
        big = tmp_path / "deal.yaml"
        big.write_bytes(b"# padding\n" * (MAX_INPUT_BYTES // 10 + 1))
        with pytest.raises(InputError, match="limit of 2 MB"):
            load_yaml(big)

    def it_names_a_dangling_link(self, tmp_path: Path) -> None:
        link = tmp_path / "deal.yaml"
        link.symlink_to(tmp_path / "gone.yaml")
        with pytest.raises(InputError, match="does not exist"):
            load_yaml(link)

    def it_names_a_symlink_loop(self, tmp_path: Path) -> None:
        (tmp_path / "a.yaml").symlink_to(tmp_path / "b.yaml")
        (tmp_path / "b.yaml").symlink_to(tmp_path / "a.yaml")
        with pytest.raises(InputError, match="cannot read"):
            load_yaml(tmp_path / "a.yaml")

    def it_refuses_an_alias_in_a_clause_file(self, tmp_path: Path) -> None:
        library = tmp_path / "clauses"
        shutil.copytree(LIBRARY, library)
        path = library / "scope.yaml"
        path.write_text("x_anchor: &bomb [a, a]\n" + path.read_text(encoding="utf-8"),
                        encoding="utf-8")
        with pytest.raises(LibraryError, match="anchor 'bomb'"):
            load_library(library)


class DescribeOutputSet:
    def it_moves_every_file_or_none(self, tmp_path: Path) -> None:
        (tmp_path / "a.docx").write_bytes(b"old a")
        (tmp_path / "b.json").mkdir()  # the second output cannot be written
        with pytest.raises(RenderError, match="folder"), OutputSet() as outputs:
            outputs.add(tmp_path / "a.docx", b"new a")
            outputs.add(tmp_path / "b.json", b"new b")
        assert (tmp_path / "a.docx").read_bytes() == b"old a"
        assert _leftovers(tmp_path) == []

    def it_puts_back_what_it_moved_when_a_later_move_fails(self, tmp_path: Path) -> None:
        (tmp_path / "a.docx").write_bytes(b"old a")
        outputs = OutputSet()
        outputs.add(tmp_path / "a.docx", b"new a")
        outputs.add(tmp_path / "b.json", b"new b")
        (tmp_path / "b.json").mkdir()  # appears between writing and moving
        with pytest.raises(RenderError):
            outputs.commit()
        assert (tmp_path / "a.docx").read_bytes() == b"old a"
        assert _leftovers(tmp_path) == []

    def it_refuses_an_output_that_is_an_input(self, tmp_path: Path) -> None:
        source = tmp_path / "template.docx"
        source.write_bytes(b"template")
        with pytest.raises(RenderError, match="overwrite the base template"):
            write_atomically(tmp_path / "." / "template.docx", b"x",
                             inputs=[("base template", source)])
        assert source.read_bytes() == b"template"

    def it_refuses_a_hard_link_to_an_input(self, tmp_path: Path) -> None:
        source = tmp_path / "deal.yaml"
        source.write_bytes(b"deal")
        os.link(source, tmp_path / "other.docx")
        with pytest.raises(RenderError, match="deal file"):
            write_atomically(tmp_path / "other.docx", b"x", inputs=[("deal file", source)])

    # /sys: a folder nobody may create files in, even root (a read-only folder as root)
    @pytest.mark.parametrize("target", ["folder", "parent-is-file/x.docx", "/proc/x.docx",
                                        "/sys/x.docx"])
    def it_names_a_path_it_cannot_write(self, tmp_path: Path, target: str) -> None:
        (tmp_path / "folder").mkdir()
        (tmp_path / "parent-is-file").write_bytes(b"")
        with pytest.raises(RenderError, match="cannot write the file"):
            write_atomically(tmp_path / target, b"x")


class DescribeGenerateOutputs:
    def it_refuses_to_overwrite_its_template(self, tmp_path: Path) -> None:
        template = tmp_path / "t.docx"
        shutil.copy(TEMPLATE, template)
        before = template.read_bytes()
        with pytest.raises(RenderError, match="base template"):
            Engine.load(LIBRARY, template).generate(DEAL, template)
        assert template.read_bytes() == before

    def it_refuses_to_overwrite_the_deal_or_a_clause_file(self, engine: Engine,
                                                         tmp_path: Path) -> None:
        deal = tmp_path / "deal.docx"  # a deal file may have any name
        deal.write_text(DEAL.read_text(encoding="utf-8").replace(
            "provider: provider.yaml", f"provider: {EXAMPLES / 'provider.yaml'}"), encoding="utf-8")
        with pytest.raises(RenderError, match="deal file"):
            engine.generate(deal, deal)
        library = tmp_path / "clauses"
        shutil.copytree(LIBRARY, library)
        (library / "scope.docx").symlink_to(library / "scope.yaml")
        with pytest.raises(RenderError, match="clause library file"):
            Engine.load(library, TEMPLATE).generate(DEAL, library / "scope.docx")

    def it_refuses_to_regenerate_over_its_manifest(self, engine: Engine, tmp_path: Path) -> None:
        engine.generate(DEAL, tmp_path / "a.docx", generated_at=FIXED_TIME)
        manifest = tmp_path / "a.manifest.json"
        before = manifest.read_bytes()
        with pytest.raises(RenderError, match="manifest"):
            engine.regenerate(manifest, manifest)
        assert manifest.read_bytes() == before

    def it_refuses_a_redline_over_the_provider_profile(self, engine: Engine,
                                                       tmp_path: Path) -> None:
        folder = tmp_path / "deals"
        shutil.copytree(EXAMPLES, folder)
        (folder / "profile.docx").symlink_to(folder / "provider.yaml")
        with pytest.raises(RenderError, match="provider profile"):
            engine.redline(folder / "deal-negotiated-nl.yaml", folder / "profile.docx")
        assert (folder / "provider.yaml").read_bytes() == (EXAMPLES / "provider.yaml").read_bytes()

    def it_keeps_the_old_agreement_when_the_manifest_cannot_be_written(
            self, engine: Engine, tmp_path: Path) -> None:
        out = tmp_path / "a.docx"
        engine.generate(DEAL, out, generated_at=FIXED_TIME)
        before = out.read_bytes()
        (tmp_path / "a.manifest.json").unlink()
        (tmp_path / "a.manifest.json").mkdir()
        with pytest.raises(RenderError, match=r"manifest\.json"):
            engine.generate(DEAL, out)
        assert out.read_bytes() == before
        assert _leftovers(tmp_path) == []


class DescribeTheCommandLine:
    """Each bad path or setting: exit code 2 and one line on stderr, nothing written."""

    @staticmethod
    def run(tmp_path: Path, *args: str, **env: str) -> str:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("DPA_")}
        environment.update(NO_COLOR="1", COLUMNS="60", TERM="dumb", **env)
        result = subprocess.run([str(DPA), *args], cwd=tmp_path, env=environment,
                                capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 2, result.stdout + result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        return lines[0]

    def it_refuses_a_folder_as_output(self, tmp_path: Path) -> None:
        (tmp_path / "d.docx").mkdir()
        line = self.run(tmp_path, "generate", str(DEAL), "-o", "d.docx", "--library", str(LIBRARY))
        assert "a folder has this name" in line

    def it_refuses_a_template_that_is_not_a_docx(self, tmp_path: Path) -> None:
        (tmp_path / "fake.docx").write_text("plain text", encoding="utf-8")
        line = self.run(tmp_path, "generate", str(DEAL), "-o", "x.docx", "--library",
                        str(LIBRARY), DPA_TEMPLATE=str(tmp_path / "fake.docx"))
        assert "cannot open the base template" in line
        assert not (tmp_path / "x.docx").exists()

    def it_names_a_deal_that_is_a_folder(self, tmp_path: Path) -> None:
        (tmp_path / "deal.yaml").mkdir()
        line = self.run(tmp_path, "generate", "deal.yaml", "-o", "x.docx", "--library",
                        str(LIBRARY))
        assert line.startswith("error: deal.yaml: this is a folder")

    def it_refuses_a_batch_output_that_is_a_file(self, tmp_path: Path) -> None:
        (tmp_path / "out").write_text("", encoding="utf-8")
        line = self.run(tmp_path, "batch", str(EXAMPLES), "-o", "out", "--library", str(LIBRARY))
        assert "output folder is a file" in line


def test_an_internal_error_never_shows_a_database_message() -> None:
    from sqlalchemy.exc import DataError

    from dpa_engine.cli.app import internal_error

    exc = DataError("INSERT INTO objections (text) VALUES (%(text)s)",
                    {"text": "Jan Peeters objects"}, Exception("NUL byte"))
    shown = internal_error(exc)
    assert shown == "database error DataError"
    assert internal_error(ValueError("first\nsecond")) == "ValueError: first"
