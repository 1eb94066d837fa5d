"""The report building blocks: one cell format and one table shape for every report."""

from __future__ import annotations

from rlfb.reporting import cell, pyplot, save_figure, table


def test_cells_and_tables_by_hand():
    assert [cell(None), cell(0.123456), cell(12345.678), cell(3), cell("`arm`")] == [
        "–", "0.1235", "1.235e+04", "3", "`arm`"]
    assert table(("metric", "value"), [("accuracy", 0.5), ("masked", None)]) == [
        "| metric | value |", "| --- | --- |", "| accuracy | 0.5 |", "| masked | – |"]


def test_a_figure_is_written_and_closed(tmp_path):
    plt = pyplot()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = save_figure(fig, tmp_path / "f.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.get_fignums()
