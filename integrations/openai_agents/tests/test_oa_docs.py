"""The docs stay honest: the README section is the same in both READMEs, and its mapping table
names every item kind the conversion knows."""

from __future__ import annotations

from pathlib import Path

from openai_agents_session_history import convert

HERE = Path(__file__).resolve().parent
PACKAGE_README = HERE.parent / "README.md"
ROOT_README = HERE.parents[2] / "README.md"


def section(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    start = text.index("## OpenAI Agents SDK\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)].strip()


def test_the_section_is_the_same_in_both_readmes() -> None:
    assert section(PACKAGE_README) == section(ROOT_README)


def test_the_table_names_every_item_kind() -> None:
    table = section(PACKAGE_README)
    kinds = set(convert._HOSTED_CALLS) | convert._JSON_ARGUMENT_CALLS | set(convert._OUTPUTS)
    for kind in kinds:
        named = f"`{kind}`" in table or (
            kind.endswith("_call_output") and "`*_call_output`" in table
        )
        assert named, kind
