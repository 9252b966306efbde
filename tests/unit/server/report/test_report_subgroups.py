"""'By group of the test cohort' (`genofed.server.report.subgroups`): sex, age band and population
from the test cohort's phenotype table (or, on simulated data, the simulator's true_risk.csv), a
group the model does not serve named in the section, the verdict and the model card, and a clear
sentence when the groups cannot be read."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from helpers.report_run import write_run

from genofed.server.report import write_report
from genofed.server.report.run_files import read_predictions


def _section(text: str, title: str) -> str:
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 3)
    return text[start : end if end > 0 else len(text)]


def _with_test_cohort(tmp_path: Path, *, population: str | None = "population", true_risk: bool = False):
    """The fixture run with a test/ folder: a genotype file (found by name) and phenotypes with sex,
    age and optionally a population column. The first 150 people are 'kalmyk', their labels
    shuffled so that the model ranks them no better than chance; one person is missing from the
    phenotype table."""
    run_dir, results = write_run(tmp_path)
    predictions = read_predictions(run_dir)
    labels = predictions.labels.copy()
    rng = np.random.default_rng(7)
    labels[:150] = rng.permutation(np.resize([1, 0], 150))
    with (run_dir / "test_predictions.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sample_id", "label", "risk"])
        for sample, label, risk in zip(predictions.sample_ids, labels, predictions.risks, strict=True):
            writer.writerow([sample, int(label), f"{risk:.6f}"])
    folder = Path(results["config"]["data-dir"]) / "test"
    folder.mkdir()
    (folder / "genotypes.vcf.gz").write_bytes(b"")
    populations = ["kalmyk" if i < 150 else "russian" for i in range(predictions.n)]
    header = ["sample_id", "label", "sex", "age"] + ([population] if population else [])
    rows = [
        [sample, int(label), "MF"[i % 2], str(20 + i % 60)] + ([populations[i]] if population else [])
        for i, (sample, label) in enumerate(zip(predictions.sample_ids, labels, strict=True))
        if i != predictions.n - 1  # the last person is not in the table: 'not recorded'
    ]
    (folder / "phenotypes.csv").write_text("\n".join(",".join(map(str, r)) for r in [header, *rows]) + "\n")
    if true_risk:
        lines = ["sample_id,true_risk,population"] + [
            f"{s},0.01,{p}" for s, p in zip(predictions.sample_ids, populations, strict=True)
        ]
        (folder / "true_risk.csv").write_text("\n".join(lines) + "\n")
    return run_dir, results


def test_groups_of_the_test_cohort_show_the_one_the_model_does_not_serve(tmp_path: Path) -> None:
    run_dir, results = _with_test_cohort(tmp_path)
    text = write_report(run_dir, results).read_text()
    bedside = _section(text, "At the bedside")
    assert "**By group of the test cohort.**" in bedside
    for group in ("Sex: female", "Sex: male", "Sex: not recorded", "Age: under 40", "Age: 40-59",
                  "Age: 60 and over", "Population: kalmyk", "Population: russian"):  # fmt: skip
        assert f"| {group} |" in bedside
    assert (
        "sex and age and population from the test cohort's phenotype table (test/phenotypes.csv)" in bedside
    )
    served = next(line for line in bedside.splitlines() if line.startswith("**May be served less well:**"))
    assert "Population: kalmyk" in served and "Population: russian" not in served
    assert "**Groups it may serve less well:** " in _section(text, "Verdict")
    assert "Population: kalmyk" in _section(text, "Verdict")
    assert "on the test cohort, Population: kalmyk" in _section(text, "Model card")


def test_without_a_population_column_the_simulators_truth_is_used_and_named(tmp_path: Path) -> None:
    run_dir, results = _with_test_cohort(tmp_path, population=None, true_risk=True)
    bedside = _section(write_report(run_dir, results).read_text(), "At the bedside")
    assert "| Population: kalmyk |" in bedside
    assert "population from the simulator's test/true_risk.csv (simulated truth" in bedside


def test_without_any_population_the_section_says_ancestry_is_not_shown(tmp_path: Path) -> None:
    run_dir, results = _with_test_cohort(tmp_path, population=None)
    bedside = _section(write_report(run_dir, results).read_text(), "At the bedside")
    assert "| Sex: female |" in bedside and "Population:" not in bedside
    assert "carries no population or ancestry column" in bedside


def test_an_ancestry_column_of_another_name_is_read(tmp_path: Path) -> None:
    run_dir, results = _with_test_cohort(tmp_path, population="Ancestry")
    bedside = _section(write_report(run_dir, results).read_text(), "At the bedside")
    assert "| Ancestry: kalmyk |" in bedside and "carries no population" not in bedside


def test_without_a_test_cohort_folder_the_groups_are_said_to_be_missing(tmp_path: Path) -> None:
    run_dir, results = write_run(tmp_path)
    text = write_report(run_dir, results).read_text()
    assert "**By group of the test cohort.** Not shown:" in _section(text, "At the bedside")
    assert "Groups it may serve less well" not in text


def _young_and_old(old_signal: float):
    """100 younger people whose risks all sit below the call at 0.5 (20 cases among them) and 100
    older ones whose risks straddle it; `old_signal` is how much higher the older cases score."""
    from genofed.server.report.run_files import Predictions
    from genofed.server.report.subgroups import Grouping

    rng = np.random.default_rng(3)
    young_labels = np.arange(100) % 5 == 0
    old_labels = np.arange(100) % 2 == 0
    young = rng.uniform(0.05, 0.3, 100) + 0.15 * young_labels  # ranked well, all below 0.5
    old = np.clip(rng.uniform(0.3, 0.7, 100) + old_signal * old_labels, 0.0, 1.0)
    labels = np.concatenate([young_labels, old_labels]).astype(np.int64)
    predictions = Predictions(labels, np.concatenate([young, old]))
    ages = Grouping("Age", ("under 40",) * 100 + ("60 and over",) * 100, "test/phenotypes.csv")
    return predictions, (ages,)


def test_a_group_the_call_never_flags_is_named_and_groups_share_a_cohort_that_does_not_inform():
    """A walkthrough's report flagged no one under 60 (0 of 135 people, their cases among them) and
    named neither group, while it named a group whose AUC was above the whole cohort's for an LR+
    interval reaching 1 that the whole cohort's reached too."""
    from genofed.server.report.run_files import Predictions
    from genofed.server.report.subgroups import _rows, concerning_groups, subgroup_section

    predictions, groupings = _young_and_old(old_signal=0.3)
    rows, concerns = _rows(predictions, groupings, 0.5)
    why = dict(concerns)
    assert list(why) == ["Age: under 40"]
    assert len(why["Age: under 40"]) == 1  # ranked well within the group: only the call fails it
    assert why["Age: under 40"][0].startswith(
        "no one of its 100 people is flagged: the call finds none of its 20"
    )
    # the older people, whose risks sit higher, are flagged at 78 % with an LR+ (1.79, 1.40-2.28)
    # below the whole cohort's 3.32, but well above 1: the flag still informs there, so not named
    assert concerning_groups(predictions, groupings, 0.5) == ["Age: under 40"]
    rng = np.random.default_rng(4)  # risks unrelated to the labels: the call informs no one
    no_signal = Predictions(np.arange(200) % 3 == 0, rng.uniform(0.3, 0.7, 200))
    section = subgroup_section(no_signal, groupings, 0.5, "risk >= 0.500")
    assert "LR+ interval is not above 1 (the verdict says so), so no group is named for its own" in section
    assert not any(
        "LR+" in reason for _, reasons in _rows(no_signal, groupings, 0.5)[1] for reason in reasons
    )


def test_a_group_where_the_call_works_backwards_is_named_as_such():
    """A review: an LR+ interval wholly below 1 (0.17, 0.09-0.31) was said to "reach 1"."""
    from genofed.server.report.run_files import Predictions
    from genofed.server.report.subgroups import Grouping, _rows

    rng = np.random.default_rng(5)
    old_labels, young_labels = np.arange(100) % 2 == 0, np.arange(100) % 2 == 0
    old = np.where(old_labels, rng.uniform(0.6, 0.9, 100), rng.uniform(0.1, 0.4, 100))  # the call informs
    young = np.where(young_labels, rng.uniform(0.1, 0.6, 100), rng.uniform(0.4, 0.9, 100))  # backwards
    predictions = Predictions(
        np.concatenate([old_labels, young_labels]).astype(np.int64), np.concatenate([old, young])
    )
    ages = Grouping("Age", ("60 and over",) * 100 + ("under 40",) * 100, "test/phenotypes.csv")
    why = dict(_rows(predictions, (ages,), 0.5)[1])
    assert any(
        "its interval below 1: here a flagged person is LESS likely to be ill" in r
        for r in why["Age: under 40"]
    )
    assert "Age: 60 and over" not in why


def test_a_group_too_small_to_judge_is_not_named_for_an_lr_interval_reaching_1():
    """An outside walkthrough on 1000 Genomes (26 populations of about a dozen test people each):
    21 populations were named "may be served less well" because their LR+ intervals reached 1, which
    a dozen people's always do. The same call on a group large enough to judge is still named."""
    from genofed.server.report.run_files import Predictions
    from genofed.server.report.subgroups import Grouping, _rows

    rng = np.random.default_rng(6)
    informs = np.arange(200) % 2 == 0  # the call informs on the whole cohort (most people)
    big_risks = np.where(informs, rng.uniform(0.55, 0.9, 200), rng.uniform(0.1, 0.45, 200))
    weak = np.arange(130) % 2 == 0  # risks unrelated to labels: LR+ reaches 1
    weak_risks = rng.uniform(0.3, 0.7, 130)
    labels = np.concatenate([informs, weak]).astype(np.int64)
    predictions = Predictions(labels, np.concatenate([big_risks, weak_risks]))
    small = ("main",) * 200 + tuple(f"pop{i // 10}" for i in range(130))  # 13 groups of 10
    large = ("main",) * 200 + ("weak",) * 130
    for groups, named in ((small, set()), (large, {"Population: weak"})):
        why = dict(_rows(predictions, (Grouping("Population", groups, "test/phenotypes.csv"),), 0.5)[1])
        assert {label for label, reasons in why.items() if any("reaching 1" in r for r in reasons)} == named
        assert all(
            any("reaching 1 and wholly below the whole cohort's" in r for r in why[label]) for label in named
        )


def test_groups_whose_lr_intervals_reach_1_around_the_whole_cohorts_are_not_named():
    """A deployed walkthrough on 1000 Genomes genotypes: about 100 test people per group, the whole
    cohort's LR+ 1.76 (1.27-2.42). Every group's interval reached 1, and the section named every
    group ("serves everyone less well"). A group is named for an LR+ interval reaching 1 only when
    it also lies wholly below the whole cohort's LR+, not for merely reaching 1."""
    from genofed.server.report.run_files import Predictions
    from genofed.server.report.subgroups import Grouping, _rows, subgroup_section

    # each of four groups: 40 cases (16 flagged) and 60 controls (14 flagged): LR+ 1.71 (0.95-3.11)
    one = np.repeat([1, 1, 0, 0], [16, 24, 14, 46])
    risks = np.repeat([0.7, 0.3, 0.7, 0.3], [16, 24, 14, 46])
    predictions = Predictions(np.tile(one, 4).astype(np.int64), np.tile(risks, 4).astype(np.float64))
    groupings = (
        Grouping("Sex", ("female",) * 200 + ("male",) * 200, "test/phenotypes.csv"),
        Grouping("Population", tuple(f"pop{i // 100}" for i in range(400)), "test/phenotypes.csv"),
    )
    rows, concerns = _rows(predictions, groupings, 0.5)
    assert any(row[0] == "Population: pop0" and row[5] == "1.71 (0.95-3.11)" for row in rows)
    assert concerns == []
    section = subgroup_section(predictions, groupings, 0.5, "risk >= 0.500")
    assert "**May be served less well:**" not in section
    assert "or an LR+ interval below 1, or reaching 1 and wholly below the whole cohort's LR+" in section


def test_a_small_groups_every_figure_is_marked_as_too_few_not_the_auc_alone():
    """A biostatistician's review: a group of 8 cases showed the table's highest LR+ (3.15) with only
    its AUC cell saying "too few to judge", read as the group the model serves best."""
    from genofed.server.report.run_files import Predictions
    from genofed.server.report.subgroups import FEW_MARK, Grouping, _rows

    rng = np.random.default_rng(7)
    labels = (np.arange(260) % 2 == 0).astype(np.int64)
    labels[200:] = np.arange(60) < 8  # the small group: 8 cases, 52 controls
    risks = np.where(labels == 1, rng.uniform(0.45, 0.9, 260), rng.uniform(0.1, 0.55, 260))
    groups = ("large",) * 200 + ("small",) * 60
    rows, _ = _rows(Predictions(labels, risks), (Grouping("Population", groups, "test/phenotypes.csv"),), 0.5)
    large, small = (next(r for r in rows if r[0].endswith(name)) for name in (": large", ": small"))
    assert small[2].startswith("too few to judge (8 cases, 52 controls)")
    assert all(cell.endswith(f" {FEW_MARK}") for cell in small[3:6])  # sensitivity, specificity, LR+
    assert not any(FEW_MARK in cell for cell in large)


def test_every_population_column_of_the_test_cohort_is_shown(tmp_path: Path) -> None:
    """1000 Genomes gives population (26) and superpopulation (5): only the first was shown, every
    row too few to judge."""
    run_dir, results = _with_test_cohort(tmp_path)
    table = Path(results["config"]["data-dir"]) / "test" / "phenotypes.csv"
    lines = table.read_text().splitlines()
    regions = [lines[0] + ",superpopulation"] + [
        line + ("," + ("EAS" if line.split(",")[-1] == "kalmyk" else "EUR")) for line in lines[1:]
    ]
    table.write_text("\n".join(regions) + "\n")
    text = write_report(run_dir, results).read_text()
    assert "Population: kalmyk" in text and "Superpopulation: EAS" in text
