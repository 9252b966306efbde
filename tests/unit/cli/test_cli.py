"""The command-line contract: every subcommand has --help; `data check` exits 0 with a summary
or 2 with an error naming file and line, never with a traceback."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from genofed.cli.main import build_parser, main


def _subcommand_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths.append((*prefix, name))
                paths += _subcommand_paths(sub, (*prefix, name))
    return paths


def test_top_level_help_lists_the_contract_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("data", "simulate-cohorts"):
        assert command in out


@pytest.mark.parametrize("path", _subcommand_paths(build_parser()), ids=" ".join)
def test_every_subcommand_has_help(path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*path, "--help"])
    assert exit_info.value.code == 0
    assert "usage: genofed" in capsys.readouterr().out


def _write_site(tmp_path: Path, label_of_s3: str = "1") -> tuple[Path, Path]:
    vcf = tmp_path / "g.vcf"
    samples = [f"S{i}" for i in range(1, 5)]
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=1>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n"
        "1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0/0\t0/1\t1/1\t0|1\n"
        "1\t200\t.\tC\tT\t.\tPASS\t.\tGT\t0/1\t./.\t0/0\t1|1\n"
    )
    pheno = tmp_path / "phenotypes.csv"
    pheno.write_text(f"sample_id,label,sex,age\nS1,0,F,40\nS2,1,M,51\nS3,{label_of_s3},F,33\nS4,0,M,62\n")
    return vcf, pheno


def test_data_check_json_summary_with_panel(tmp_path, capsys):
    vcf, pheno = _write_site(tmp_path)
    panel = tmp_path / "panel.tsv"
    # 1:200 is in the panel with REF/ALT swapped; 2:5 is a panel variant the site lacks.
    panel.write_text("id\talt_freq\n1:100:A:G\t0.4\n1:200:T:C\t0.5\n2:5:G:A\t0.1\n")
    code = main(
        [
            "data",
            "check",
            "--genotypes",
            str(vcf),
            "--phenotypes",
            str(pheno),
            "--panel",
            str(panel),
            "--min-samples",
            "4",
            "--min-coverage",
            "0.5",
            "--json",
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["ok"] is True
    assert (summary["samples"], summary["cases"], summary["controls"]) == (4, 2, 2)
    assert summary["variants"] == 2  # the site's own; the panel has 3
    assert summary["missing_rate"] == pytest.approx(1 / 8)  # one ./. among 4 x 2 calls
    assert summary["alignment"]["matched"] == 1 and summary["alignment"]["swapped"] == 1
    assert summary["alignment"]["absent"] == 1
    assert summary["alignment"]["coverage"] == pytest.approx(2 / 3, abs=1e-6)
    assert any(w["code"] == "panel_coverage" for w in summary["warnings"])


def test_data_check_refuses_too_few_samples_by_default(tmp_path, capsys):
    vcf, pheno = _write_site(tmp_path)
    assert main(["data", "check", "--genotypes", str(vcf), "--phenotypes", str(pheno)]) == 2
    err = capsys.readouterr().err
    assert "only 4 samples" in err and "what to do" in err


def test_data_check_bad_label_is_a_clear_error_not_a_traceback(tmp_path):
    vcf, pheno = _write_site(tmp_path, label_of_s3="maybe")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "genofed.cli.main",
            "data",
            "check",
            "--genotypes",
            str(vcf),
            "--phenotypes",
            str(pheno),
            "--min-samples",
            "4",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(pheno) in result.stderr and "line 4" in result.stderr
    assert "maybe" in result.stderr


def test_help_and_data_check_do_not_import_torch_opacus_or_flower(tmp_path, write_vcf):
    """A 0.2 s check must not pay seconds of training-stack imports (docs/benchmarks.md, start-up)."""
    vcf = write_vcf(["1\t100\trs1\tA\tG\t.\tPASS\t.\tGT\t0/1\t0/0\t1/1\t0/1"])
    phenotypes = tmp_path / "p.csv"
    phenotypes.write_text("sample_id,label\nS1,1\nS2,0\nS3,1\nS4,0\n")
    script = (
        "import sys\n"
        "from genofed.cli.main import main\n"
        f"main(['data', 'check', '--genotypes', {str(vcf)!r}, "
        f"'--phenotypes', {str(phenotypes)!r}, '--min-samples', '4'])\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'opacus', 'flwr', 'sklearn') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "OK: the data can be used" in result.stdout, result.stdout + result.stderr  # the check really ran
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr


def test_a_refusal_that_opens_with_a_field_name_opens_with_its_option(capsys):
    """A fuzzing review: `l2 must be >= 0`, `dp_seeds must be >= 1` named dataclass fields, not the
    options typed (`--l2`, `--dp-seeds`), unlike the other commands."""
    from genofed.cli.main import main

    args = [
        "pretrain",
        "--source",
        "absent",
        "--panel",
        "absent.tsv",
        "--out",
        "never.pt",
        "--model",
        "logistic",
    ]
    assert main([*args, "--l2", "-1"]) == 2
    assert capsys.readouterr().err.startswith("error: --l2 must be >= 0, got -1")
    assert main(["experiment", "synthetic-fidelity", "--out", "never", "--dp-seeds", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: --dp-seeds must be >= 1, got 0")
