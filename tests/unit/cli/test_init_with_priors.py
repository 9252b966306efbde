"""Public priors in a deployed federation, from the command line: `coordinator init --prior
--prior-variants --gene-prior` (with a source model made as a coordinator makes it: `genofed
pretrain --model logistic` on a source cohort) writes model.json; `hospital check --model-config`
pins it and says what it pinned; a file for another panel is refused, naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genofed.cli.main import main
from genofed.common.data.layout import hospital_folders

K = 6


def test_a_prior_chosen_sub_panel_is_published_at_init_and_pinned_at_the_hospital(
    tmp_path, simulated_cohorts, capsys, monkeypatch
):
    cohorts: Path = simulated_cohorts(5, with_sources=True)
    monkeypatch.setenv("GENOFED_HOME", str(tmp_path / "home"))  # the hospitals' ledger index
    source, fed, site = tmp_path / "near.pt", tmp_path / "fed", tmp_path / "site"
    panel = cohorts / "panel.tsv"
    pretrain = ["pretrain", "--source", str(cohorts / "sources" / "near"), "--panel", str(panel)]
    assert main([*pretrain, "--out", str(source), "--model", "logistic", "--quiet"]) == 0
    init = ["coordinator", "init", str(fed), "--host", "localhost", "--panel", str(panel)]
    priors = [
        "--prior",
        str(source),
        "--prior-variants",
        str(K),
        "--gene-prior",
        str(cohorts / "known_genes.bed"),
    ]
    assert main([*init, *priors]) == 0
    printed = capsys.readouterr().out
    model = json.loads((fed / "model.json").read_text())
    assert f"priors/near.pt (top {K} variants)" in printed and "priors/known_genes.bed" in printed
    assert (
        f"reads {model['reads']} of {model['panel']['variants']} variants, digest {model['digest'][:12]}"
        in printed
    )
    assert model["priors"]["source"]["k"] == K and len(model["selected_ids"]) == model["reads"]

    data = hospital_folders(cohorts)[0]
    assert main(["hospital", "init", str(site), "--name", data.name]) == 0
    check = ["hospital", "check", str(site), "--genotypes", str(data.genotypes)]
    check += ["--phenotypes", str(data.phenotypes), "--panel", str(fed / "panel.tsv")]
    check += ["--epsilon-budget", "2"]
    assert main([*check, "--model-config", str(fed / "model.json")]) == 0
    printed = capsys.readouterr().out
    assert (
        f"model pinned: logistic, reads {model['reads']} of {model['panel']['variants']} panel variants, "
        f"digest {model['digest'][:12]}"
    ) in printed
    bound = json.loads((site / "hospital.json").read_text())["data"]
    assert bound["model_digest"] == model["digest"]

    with pytest.raises(SystemExit):  # one way to name the model, not two
        main([*check, "--model", "network", "--model-config", str(fed / "model.json")])
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**model, "model_config": {**model["model_config"], "n_variants": 10}}))
    assert main([*check, "--model-config", str(other)]) == 2
    assert f"{other}: the model is for a panel of 10 variants" in capsys.readouterr().err
    assert json.loads((site / "hospital.json").read_text())["data"] == bound  # the refusal changed nothing
