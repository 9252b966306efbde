"""`genofed hospital variants` and `genofed coordinator panel`: the release, its ledger entry, the
refusals, and the panel the coordinator writes from the files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genofed.cli.main import main
from genofed.client.variant_release import VARIANTS_KIND
from genofed.common.data.panel import VariantPanel
from genofed.common.data.variant_summary import VariantSummary, dp_sensitivity
from genofed.common.data.writers import write_vcf
from genofed.common.privacy.ledger import DECLARED_PUBLIC, LEDGER_FILE, PrivacyLedger

IDS = ["1:100:A:G", "1:200:C:T", "2:50:G:A"]


def _site(folder: Path, seed: int, ids: list[str] = IDS) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    dosages = rng.integers(0, 3, size=(40, len(ids))).astype(np.int8)
    write_vcf(folder / "genotypes.vcf", dosages, [f"{folder.name}{i}" for i in range(40)], ids)
    return folder / "genotypes.vcf"


def test_rounded_release_then_panel(tmp_path: Path, capsys):
    a = _site(tmp_path / "rostov", 1)
    b = _site(tmp_path / "elista", 2, ["1:100:G:A", "1:200:C:T", "2:50:G:A"])  # 1:100 swapped
    state = tmp_path / "state"
    assert (
        main(
            [
                "hospital",
                "variants",
                "--genotypes",
                str(a),
                "--out",
                str(tmp_path / "a.tsv"),
                "--state-dir",
                str(state),
            ]
        )
        == 0
    )
    assert main(["hospital", "variants", "--genotypes", str(b), "--out", str(tmp_path / "b.tsv")]) == 0
    out = capsys.readouterr().out
    assert "wrote the variant summary of rostov" in out and "declared public" in out
    assert VariantSummary.load(tmp_path / "b.tsv").site == "elista"  # default: the file's folder
    # The declared-public release is listed in the ledger, at epsilon 0.
    ledger = PrivacyLedger(state / LEDGER_FILE)
    assert [c.kind for c in ledger.charges] == [DECLARED_PUBLIC]
    assert ledger.epsilon(1e-5) == 0.0

    panel_args = ["coordinator", "panel", "--summaries", str(tmp_path / "a.tsv"), str(tmp_path / "b.tsv")]
    assert main([*panel_args, "--out", str(tmp_path / "panel.tsv")]) == 0
    out = capsys.readouterr().out
    assert "REF/ALT swapped at some site, converted: 1" in out and "wrote 3 variants" in out
    # A 1-1 tie: elista's orientation, the first site by name.
    assert VariantPanel.load(tmp_path / "panel.tsv").variant_ids == ["1:100:G:A", *IDS[1:]]
    # Never overwritten unasked.
    assert main([*panel_args, "--out", str(tmp_path / "panel.tsv")]) == 2
    assert "--force" in capsys.readouterr().err
    assert main([*panel_args, "--out", str(tmp_path / "panel.tsv"), "--force"]) == 0


def test_dp_release_is_charged_and_refused_over_budget(tmp_path: Path, capsys):
    genotypes = _site(tmp_path / "rostov", 3)
    state = tmp_path / "state"
    args = [
        "hospital",
        "variants",
        "--genotypes",
        str(genotypes),
        "--release",
        "dp",
        "--state-dir",
        str(state),
    ]
    assert main([*args, "--epsilon", "2", "--budget", "8", "--out", str(tmp_path / "d.tsv")]) == 0
    assert "sd" in capsys.readouterr().out
    summary = VariantSummary.load(tmp_path / "d.tsv")
    ledger = PrivacyLedger(state / LEDGER_FILE)
    (charge,) = ledger.charges
    assert charge.kind == VARIANTS_KIND and (charge.sample_rate, charge.steps) == (1.0, 1)
    assert ledger.epsilon(1e-5) == pytest.approx(2, rel=0.02)
    assert ledger.epsilon(1e-5) <= 2
    assert summary.release.noise_sd == pytest.approx(charge.noise_multiplier * dp_sensitivity(3), rel=1e-5)

    # A second release of epsilon 2 on its own composes to about 2.92: refused within --budget
    # 2.5, and nothing is charged or written.
    assert main([*args, "--epsilon", "2", "--budget", "2.5", "--out", str(tmp_path / "e.tsv")]) == 2
    assert "would bring its total to 2.92 and exceed its budget of 2.5" in capsys.readouterr().err
    assert not (tmp_path / "e.tsv").exists()
    assert len(PrivacyLedger(state / LEDGER_FILE).charges) == 1


def test_a_dp_release_is_charged_to_the_ledger_its_genotypes_are_bound_to(tmp_path: Path, capsys):
    """A fresh --state-dir is no fresh budget: the genotypes' ledger is where they were first
    charged (or where `hospital check` bound them), and a site's declared budget caps it."""
    genotypes = _site(tmp_path / "rostov", 4)
    site = tmp_path / "site_rostov"
    site.mkdir()
    (site / "hospital.json").write_text('{"name": "rostov", "data": {"epsilon_budget": 3.0}}')
    args = ["hospital", "variants", "--genotypes", str(genotypes), "--release", "dp"]
    assert (
        main([*args, "--epsilon", "2", "--state-dir", str(site / "state"), "--out", str(tmp_path / "a.tsv")])
        == 0
    )

    # Another folder for the same genotypes: refused, nothing written anywhere.
    fresh = tmp_path / "s_ros"
    elsewhere = [*args, "--epsilon", "2", "--budget", "8", "--state-dir", str(fresh)]
    assert main([*elsewhere, "--out", str(tmp_path / "b.tsv")]) == 2
    err = capsys.readouterr().err
    assert "already has a privacy ledger in" in err and "site_rostov/state" in err and "--new-ledger" in err
    assert not fresh.exists() and not (tmp_path / "b.tsv").exists()

    # Its own folder: the site's declared budget of 3 caps it (no --budget given): epsilon 2.5 on
    # its own composes with the 2 spent to about 3.31
    again = [*args, "--epsilon", "2.5", "--state-dir", str(site / "state"), "--out", str(tmp_path / "c.tsv")]
    assert main(again) == 2
    assert "exceed its budget of 3" in capsys.readouterr().err
    assert len(PrivacyLedger(site / "state" / LEDGER_FILE).charges) == 1

    # Other genotypes in the same folder: refused (its ledger was spent on the first ones).
    other = _site(tmp_path / "elista", 5)
    rounded = ["hospital", "variants", "--genotypes", str(other), "--state-dir", str(site / "state")]
    assert main([*rounded, "--out", str(tmp_path / "d.tsv")]) == 2
    assert "spent on other data" in capsys.readouterr().err

    # The operator's override starts a new ledger on purpose, in the audit log.
    override = [
        *args,
        "--epsilon",
        "1",
        "--budget",
        "8",
        "--state-dir",
        str(fresh),
        "--out",
        str(tmp_path / "e.tsv"),
    ]
    assert main([*override, "--new-ledger", "restored site"]) == 0
    assert len(PrivacyLedger(fresh / LEDGER_FILE).charges) == 1


def test_hospital_check_after_a_variant_release_adopts_its_ledger(tmp_path: Path):
    """The usual order (variants for the panel, then `hospital check`): the check's binding of
    both files takes over the ledger the variant summary charged, and a new one is refused."""
    from genofed.client.agent.ledger_binding import DataHashes, LedgerRefused, bind_ledger, read_binding
    from genofed.common.util.hashing import file_sha256

    genotypes = _site(tmp_path / "rostov", 6)
    phenotypes = tmp_path / "rostov" / "phenotypes.csv"
    phenotypes.write_text("sample_id,label\n")
    state = tmp_path / "site" / "state"
    args = ["hospital", "variants", "--genotypes", str(genotypes), "--release", "dp", "--epsilon", "1"]
    args += ["--budget", "8"]  # no site's state folder (no hospital.json): a cap of its own
    assert main([*args, "--state-dir", str(state), "--out", str(tmp_path / "a.tsv")]) == 0
    assert read_binding(state) is None  # bound by the genotypes in the index only
    data = DataHashes(file_sha256(genotypes), file_sha256(phenotypes))
    with pytest.raises(LedgerRefused, match="already has a privacy ledger"):
        bind_ledger(tmp_path / "elsewhere", data, site="rostov", command="check")
    assert bind_ledger(state, data, site="rostov", command="check").action == "adopt"
    assert read_binding(state)["data"] == data.roles()
    assert main([*args, "--state-dir", str(state), "--out", str(tmp_path / "b.tsv")]) == 0  # still its ledger


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--release", "dp", "--epsilon", "1"], "--state-dir"),
        (["--release", "dp"], "--epsilon"),
        (["--epsilon", "1"], "rounded counts are declared public"),
        (["--round-to", "0"], "--round-to"),
    ],
)
def test_bad_options_are_refused_before_anything_is_read(tmp_path: Path, capsys, extra, message):
    args = [
        "hospital",
        "variants",
        "--genotypes",
        str(tmp_path / "none.vcf"),
        "--out",
        str(tmp_path / "o.tsv"),
    ]
    assert main([*args, *extra]) == 2
    assert message in capsys.readouterr().err


def test_a_damaged_summary_is_a_data_error_with_its_line(tmp_path: Path, capsys):
    a = _site(tmp_path / "rostov", 1)
    main(["hospital", "variants", "--genotypes", str(a), "--out", str(tmp_path / "a.tsv")])
    text = (tmp_path / "a.tsv").read_text().replace("1:200:C:T\t", "1:200:C:T\tx", 1)
    (tmp_path / "a.tsv").write_text(text)
    argv = ["coordinator", "panel", "--summaries", str(tmp_path / "a.tsv"), "--out", str(tmp_path / "p.tsv")]
    assert main([*argv, "--min-sites", "1"]) == 2
    err = capsys.readouterr().err
    assert "a.tsv, line 10" in err and "is not a number" in err
    assert not (tmp_path / "p.tsv").exists()


def test_a_re_exported_genotype_file_of_the_same_patients_is_no_fresh_budget(tmp_path: Path, capsys):
    import gzip

    genotypes = _site(tmp_path / "rostov", 7)
    args = ["hospital", "variants", "--release", "dp", "--epsilon", "2", "--budget", "8"]
    assert (
        main(
            [
                *args,
                "--genotypes",
                str(genotypes),
                "--state-dir",
                str(tmp_path / "s1"),
                "--out",
                str(tmp_path / "a.tsv"),
            ]
        )
        == 0
    )
    packed = tmp_path / "export" / "genotypes.vcf.gz"
    packed.parent.mkdir()
    packed.write_bytes(gzip.compress(genotypes.read_bytes()))  # new bytes, the same patients
    again = [
        *args,
        "--genotypes",
        str(packed),
        "--state-dir",
        str(tmp_path / "s2"),
        "--out",
        str(tmp_path / "b.tsv"),
    ]
    assert main(again) == 2
    assert "these patients (the same sample ids, in other files)" in capsys.readouterr().err
    assert not (tmp_path / "s2").exists() and not (tmp_path / "b.tsv").exists()


@pytest.mark.parametrize(
    ("given", "out"),
    [
        ("plink_out", "plink_out.bed"),  # the prefix form
        ("plink_out.bim", "plink_out.bed"),
        ("plink_out.bed", "plink_out.bim"),
        ("plink_out.bed", "plink_out.fam"),
        ("plink_out", "sub/../plink_out.fam"),  # another spelling of the same file
        ("sub/../plink_out.bim", "plink_out.bed"),
        ("plink_out", "link.bed"),  # a symlink to the .bed
    ],
)
def test_force_never_overwrites_the_plink_files_it_reads(tmp_path: Path, capsys, given, out):
    """The guard compared --out with the literal --genotypes only: `--genotypes x --out x.bed --force`
    replaced the .bed with the summary."""
    from genofed.common.data.writers import write_plink

    site = tmp_path / "site"
    (site / "sub").mkdir(parents=True)
    dosages = np.random.default_rng(0).integers(0, 3, size=(40, len(IDS))).astype(np.int8)
    write_plink(site / "plink_out", dosages, [f"s{i}" for i in range(40)], IDS)
    (site / "link.bed").symlink_to("plink_out.bed")
    before = {p.name: p.read_bytes() for p in site.glob("plink_out.*")}
    args = ["hospital", "variants", "--genotypes", str(site / given), "--out", str(site / out), "--force"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "never an input" in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in site.glob("plink_out.*")} == before
    # a new file beside them is still written
    assert main([*args[:-3], "--out", str(site / "variants.tsv")]) == 0


def test_force_never_overwrites_the_vcf_it_reads_through_another_spelling(tmp_path: Path, capsys):
    genotypes = _site(tmp_path / "rostov", 1)
    before = genotypes.read_bytes()
    out = tmp_path / "rostov" / ".." / "rostov" / "genotypes.vcf"
    assert main(["hospital", "variants", "--genotypes", str(genotypes), "--out", str(out), "--force"]) == 2
    assert "never an input" in capsys.readouterr().err
    assert genotypes.read_bytes() == before
