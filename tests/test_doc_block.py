"""Benchmarks write their tables into marked blocks of hand-written pages (bench/doc_block.py):
re-running one must replace its own table and nothing else."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from doc_block import write_block  # noqa: E402


def test_a_block_is_replaced_in_place_and_the_prose_and_other_blocks_stay(tmp_path):
    page = tmp_path / "results.md"
    page.write_text("# Title\n\nProse before.\n")
    write_block(page, "bench a", "table A1")
    write_block(page, "bench b", "table B1")
    page.write_text(page.read_text() + "\nProse after, written by hand.\n")
    write_block(page, "bench a", "table A2\nsecond line")
    assert page.read_text() == (
        "# Title\n\nProse before.\n\n"
        "<!-- bench a: start -->\ntable A2\nsecond line\n<!-- bench a: end -->\n\n"
        "<!-- bench b: start -->\ntable B1\n<!-- bench b: end -->\n"
        "\nProse after, written by hand.\n")


def test_a_missing_page_is_created_with_the_block(tmp_path):
    page = tmp_path / "new.md"
    write_block(page, "k", "body\n")
    assert page.read_text() == "<!-- k: start -->\nbody\n<!-- k: end -->\n"
