"""The benchmark tables a page shows come from the results files, and a missing file stops the build."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import benchmark_tables
from tools.benchmark_tables import BenchmarkResultsError

RESULT = {
    "benchmark": "demo",
    "title": "Time to 99 % on MNIST",
    "date": "2026-01-02",
    "machine": {"cpu": "Test CPU 3000", "cores": 2},
    "versions": {"python": "3.11.7", "torch": "2.14.1", "torchvision": "0.29.1"},
    "columns": [
        {"key": "model", "label": "Model"},
        {"key": "params", "label": "Parameters"},
        {"key": "test_acc", "label": "Test accuracy (%)"},
        {"key": "reached", "label": "Reached 99 %"},
    ],
    "rows": [
        {"model": "MnistCNN", "params": 29034, "test_acc": 99.08, "reached": True},
        {"model": "a | b", "params": 1199882, "test_acc": float("nan"), "reached": False},
    ],
    "notes": "Adam + OneCycleLR.",
}


def write(directory: Path, result: dict, name: str = "demo") -> None:
    (directory / f"{name}.json").write_text(json.dumps(result), encoding="utf-8")


def test_placeholder_becomes_a_table_with_machine_versions_and_date(tmp_path: Path) -> None:
    write(tmp_path, RESULT)
    page = "# Title\n\nBefore.\n\n<!-- benchmark: demo -->\n\nAfter.\n"
    out = benchmark_tables.render_placeholders(page, "docs/x.md", tmp_path)
    lines = out.split("\n")
    assert "<!--" not in out
    assert "| Model | Parameters | Test accuracy (%) | Reached 99 % |" in lines
    assert "| --- | --- | --- | --- |" in lines
    assert "| MnistCNN | 29,034 | 99.08 | yes |" in lines
    assert "| a \\| b | 1,199,882 | n/a | no |" in lines  # a pipe in a cell is escaped
    caption = next(line for line in lines if line.startswith("*Time to 99 %"))
    for part in ("2026-01-02", "Test CPU 3000", "2 cores", "torch 2.14.1", "torchvision 0.29.1", "python 3.11.7"):
        assert part in caption
    assert "Adam + OneCycleLR." in lines
    assert out.startswith("# Title\n\nBefore.\n") and out.rstrip().endswith("After.")


def test_table_is_valid_markdown_for_the_site(tmp_path: Path) -> None:
    markdown = pytest.importorskip("markdown")
    write(tmp_path, RESULT)
    html = markdown.markdown(
        benchmark_tables.render_placeholders("<!-- benchmark: demo -->\n", "x", tmp_path), extensions=["tables"]
    )
    assert html.count("<tr>") == 3 and "<th>Parameters</th>" in html and "<td>29,034</td>" in html


def test_indented_placeholder_keeps_its_indentation(tmp_path: Path) -> None:
    write(tmp_path, RESULT)
    out = benchmark_tables.render_placeholders("    <!-- benchmark: demo -->\n", "x", tmp_path)
    assert all(line.startswith("    ") for line in out.split("\n") if line)


def test_page_without_placeholder_is_unchanged(tmp_path: Path) -> None:
    page = "Text with <!-- a comment --> and `<!-- benchmark: demo -->` inline.\n"
    assert benchmark_tables.render_placeholders(page, "x", tmp_path) == page


def test_missing_results_file_names_the_page_the_file_and_the_command(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkResultsError) as error:
        benchmark_tables.render_placeholders("<!-- benchmark: nowhere -->\n", "docs/tutorials/11-mnist.md", tmp_path)
    message = str(error.value)
    assert "docs/tutorials/11-mnist.md" in message
    assert str(tmp_path / "nowhere.json") in message
    assert "nox -s bench" in message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("machine"), "lacks the keys machine"),
        (lambda r: r.update(benchmark="other"), "holds benchmark 'other'"),
        (lambda r: r.update(rows=[]), "has no rows"),
        (lambda r: r["rows"][0].pop("params"), "row 1 lacks the columns params"),
        (lambda r: r["columns"].append({"key": "x"}), "needs a 'key' and a 'label'"),
        (lambda r: r.update(machine="a laptop"), "'machine' must be an object, not str"),
        (lambda r: r.update(rows={"model": "x"}), "'rows' must be a list, not dict"),
        (lambda r: r["rows"].append(["x"]), "row 3 must be an object"),
    ],
)
def test_malformed_results_are_refused(tmp_path: Path, change, message: str) -> None:
    result = json.loads(json.dumps(RESULT))
    change(result)
    write(tmp_path, result)
    with pytest.raises(BenchmarkResultsError, match=message):
        benchmark_tables.render_placeholders("<!-- benchmark: demo -->\n", "x", tmp_path)


def test_invalid_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "demo.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(BenchmarkResultsError, match="not valid JSON"):
        benchmark_tables.render_placeholders("<!-- benchmark: demo -->\n", "x", tmp_path)


def test_results_dir_can_be_redirected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHPRIMER_BENCHMARK_RESULTS", str(tmp_path))
    write(tmp_path, RESULT)
    assert benchmark_tables.results_dir() == tmp_path
    assert "| MnistCNN |" in benchmark_tables.render_placeholders("<!-- benchmark: demo -->\n", "x")


def test_every_placeholder_in_the_docs_names_a_benchmark_that_exists() -> None:
    """Each benchmark a page cites has a script that produces it and usable committed results."""
    docs = Path(benchmark_tables.ROOT) / "docs"
    cited = {
        match.group("name"): page.relative_to(benchmark_tables.ROOT).as_posix()
        for page in sorted(docs.rglob("*.md"))
        for match in benchmark_tables.PLACEHOLDER.finditer(page.read_text(encoding="utf-8"))
    }
    assert cited, "no page shows a benchmark table: the placeholder pattern no longer matches the docs"
    for name, page in cited.items():
        script = Path(benchmark_tables.ROOT) / "benchmarks" / f"{name}.py"
        assert script.is_file(), f"{page} cites benchmark {name!r}, but {script} does not exist"
        benchmark_tables.load_result(name, page=page)  # raises when the results are missing or malformed
