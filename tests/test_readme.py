"""The README's examples are a contract: each generated block is what its command prints."""

import pytest

from tools import readme_examples


def test_every_example_the_tool_knows_has_a_block_in_the_readme():
    text = readme_examples.README.read_text(encoding="utf-8")
    assert set(readme_examples.blocks(text)) == set(readme_examples.EXAMPLES)
    assert set(readme_examples.tables(text)) == set(readme_examples.TABLES)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(readme_examples.EXAMPLES))
def test_the_readme_block_is_what_the_command_prints_now(name):
    text = readme_examples.README.read_text(encoding="utf-8")
    assert readme_examples.blocks(text)[name] == readme_examples.render(name), (
        "README is stale: python tools/readme_examples.py --write")


@pytest.mark.parametrize("name", sorted(readme_examples.TABLES))
def test_the_readme_table_is_what_the_command_prints_now(name):
    """The catalogue table is generated (catalog list --markdown), never kept by hand."""
    text = readme_examples.README.read_text(encoding="utf-8")
    assert readme_examples.tables(text)[name] == readme_examples.render_table(name), (
        "README is stale: python tools/readme_examples.py --write")


def test_a_table_kept_by_hand_is_stale(monkeypatch, tmp_path):
    """A row edited in the README (not in the patch.toml) is caught, and --write puts the
    command's output back."""
    readme = tmp_path / "README.md"
    text = readme_examples.README.read_text(encoding="utf-8")
    row = readme_examples.tables(text)["catalogue"].splitlines()[2]
    readme.write_text(text.replace(row, row.replace(" | ", " | edited by hand ", 1)),
                      encoding="utf-8")
    monkeypatch.setattr(readme_examples, "README", readme)
    monkeypatch.setattr(readme_examples, "render", lambda name: readme_examples.blocks(
        readme.read_text(encoding="utf-8"))[name])  # the status example: not under test
    assert readme_examples.main([]) == 1
    assert readme_examples.main(["--write"]) == 0
    assert readme_examples.main([]) == 0 and readme.read_text(encoding="utf-8") == text
