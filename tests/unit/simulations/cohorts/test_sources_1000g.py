"""The 1000g preset's ancestry source: the real 1000 Genomes people no clinic and not the test
cohort drew, labelled with their ancestry, for pretraining a representation of population structure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from genofed.cli.main import main
from genofed.common.data.readers import read_classes, read_genotypes
from genofed.common.model.network import build_model
from genofed.common.scoring.model_file import disease_start, load_pretrained
from genofed.simulations.cohorts.build import simulate_cohorts
from genofed.simulations.cohorts.presets import THOUSAND_GENOMES
from genofed.simulations.cohorts.real import load_1000g

COHORTS = [h.name for h in THOUSAND_GENOMES.hospitals] + ["test"]
SUPERPOPULATIONS = ["AFR", "AMR", "EAS", "EUR", "SAS"]
#: (population, superpopulation, sex) of well-known 1000 Genomes samples, from the project's panel
KNOWN = {
    "HG00096": ("GBR", "EUR", "M"),
    "NA12878": ("CEU", "EUR", "F"),
    "NA19238": ("YRI", "AFR", "F"),
    "NA18525": ("CHB", "EAS", "F"),
    "NA19648": ("MXL", "AMR", "F"),
    "HG03006": ("BEB", "SAS", "M"),
}

# Built once per module, on first use, behind the `thousand_genomes` fixture (skips without the data).
_BUILT: dict[str, Path] = {}


@pytest.fixture
def federation(thousand_genomes, tmp_path_factory) -> Path:
    if "federation" not in _BUILT:
        out = tmp_path_factory.mktemp("kg") / "fed"
        result = simulate_cohorts(out, preset="1000g", seed=1, with_sources=True)
        assert result.sources == ["ancestry"]
        _BUILT["federation"] = out
    return _BUILT["federation"]


@pytest.fixture
def ancestry_model(federation, tmp_path_factory) -> Path:
    if "model" not in _BUILT:
        out = tmp_path_factory.mktemp("pretrained") / "ancestry.pt"
        code = main(
            [
                "pretrain",
                "--source",
                str(federation / "sources" / "ancestry"),
                "--panel",
                str(federation / "panel.tsv"),
                "--out",
                str(out),
                "--task",
                "multiclass",
                "--label",
                "superpopulation",
                "--epochs",
                "3",
                "--quiet",
            ]
        )
        assert code == 0
        _BUILT["model"] = out
    return _BUILT["model"]


def test_ancestry_source_holds_exactly_the_unused_1000g_people(federation, thousand_genomes):
    source = federation / "sources" / "ancestry"
    assert sorted(p.name for p in source.iterdir()) == ["genotypes.vcf.gz", "phenotypes.csv", "truth.json"]
    assert json.loads((federation / "truth.json").read_text())["sources"] == ["ancestry"]
    pool = load_1000g(thousand_genomes)
    pool_dosages = pool.haps.sum(axis=2)
    row_of = {row.tobytes(): i for i, row in enumerate(pool_dosages.astype(np.int8))}
    assert len(row_of) == len(pool_dosages)  # no two 1000G people share all 805 genotypes

    # Every clinic and test person is one pool person (found by genotype: their ids are synthetic).
    used: list[int] = []
    ids: list[str] = []
    for name in COHORTS:
        cohort = read_genotypes(federation / name / "genotypes.vcf.gz")
        assert cohort.variant_ids == pool.variant_ids
        used += [row_of[row.astype(np.int8).tobytes()] for row in cohort.dosages]
        ids += cohort.sample_ids
    assert len(set(used)) == len(used)

    genotypes = read_genotypes(source / "genotypes.vcf.gz")
    assert genotypes.variant_ids == pool.variant_ids  # the federation panel, in panel order
    index = {name: i for i, name in enumerate(pool.sample_names)}
    members = np.array([index[s] for s in genotypes.sample_ids])
    np.testing.assert_array_equal(genotypes.dosages, pool_dosages[members])
    truth = json.loads((source / "truth.json").read_text())
    left_out = [index[e["sample_id"]] for e in truth["left_out"]]

    # No person both in the source and in a clinic/test cohort; together they are the whole pool.
    assert not set(members) & set(used) and not set(genotypes.sample_ids) & set(ids)
    assert len(members) + len(used) + len(left_out) == len(pool.sample_names) == 2504
    assert sorted([*members, *used, *left_out]) == list(range(len(pool.sample_names)))

    samples, classes = read_classes(source / "phenotypes.csv", "superpopulation")
    assert samples == genotypes.sample_ids and sorted(set(classes)) == SUPERPOPULATIONS
    assert truth["trait"] == "ancestry" and truth["n"] == len(samples)
    assert truth["classes"] == {c: classes.count(c) for c in SUPERPOPULATIONS}
    assert "disjoint" in truth["note"]

    table = pd.read_csv(source / "phenotypes.csv").set_index("sample_id")
    assert list(table.columns) == ["superpopulation", "population", "sex"]
    assert table["population"].nunique() == 26 and set(table["sex"]) == {"M", "F"}
    reference = (
        pd.read_csv(thousand_genomes / "samples.tsv", sep="\t").set_index("sample_id").loc[table.index]
    )
    assert (reference["superpopulation"] == table["superpopulation"]).all()
    assert (reference["population"] == table["population"]).all()
    assert (reference["sex"].str[0].str.upper() == table["sex"]).all()
    present = [s for s in KNOWN if s in table.index]
    assert len(present) >= 3
    for sample in present:
        assert tuple(table.loc[sample, ["population", "superpopulation", "sex"]]) == KNOWN[sample]


def test_pretraining_on_ancestry_learns_the_superpopulations(federation, ancestry_model):
    model = load_pretrained(ancestry_model)
    assert model.task.kind == "multiclass" and model.task.classes == tuple(SUPERPOPULATIONS)
    assert model.panel.variant_ids == read_genotypes(federation / "test" / "genotypes.vcf.gz").variant_ids
    metrics = model.provenance["metrics"]
    # measured 0.95-0.97 (5 classes: chance is ~0.28, the share of AFR)
    assert metrics["validation"]["accuracy"] > 0.85, metrics


def test_ancestry_model_gives_a_one_output_disease_start(ancestry_model):
    model = load_pretrained(ancestry_model)
    assert model.model_config.n_outputs == 5
    config, weights = disease_start(model, seed=1)
    assert config.n_outputs == 1
    net = build_model(config, seed=0)
    net.load_state_dict(weights)
    for name, tensor in weights.items():  # encoder and hidden layer kept, a fresh one-logit output layer
        if name.startswith(("head.2.", "linear.")):
            assert tensor.shape[0] == 1
        else:
            assert torch.equal(tensor, model.state_dict[name]), name
    x = torch.zeros(3, config.n_variants + config.n_covariates)
    assert net(x).shape == (3,)  # one logit per person
