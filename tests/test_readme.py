"""The README's examples are a contract: each generated block is what its command prints."""

import pytest

from tools import readme_examples


def test_every_example_the_tool_knows_has_a_block_in_the_readme():
    text = readme_examples.README.read_text(encoding="utf-8")
    assert set(readme_examples.blocks(text)) == set(readme_examples.EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(readme_examples.EXAMPLES))
def test_the_readme_block_is_what_the_command_prints_now(name):
    text = readme_examples.README.read_text(encoding="utf-8")
    assert readme_examples.blocks(text)[name] == readme_examples.render(name), (
        "README is stale: python tools/readme_examples.py --write")
