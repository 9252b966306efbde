"""A simulated federation's gene list: known regions around the chosen causal variants, as many
decoys holding none, deterministic, and drawn without touching any simulated genotype."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from genofed.common.data.layout import GENE_LIST, hospital_folders
from genofed.common.data.panel import VariantPanel
from genofed.common.data.regions import GeneRegion, load_gene_regions, variants_in_regions
from genofed.common.data.variants import parse_variant_id
from genofed.common.errors import ConfigError
from genofed.simulations.cohorts import build
from genofed.simulations.cohorts.gene_list import simulate_gene_list, write_gene_list


@pytest.fixture(scope="module")
def federation(simulated_cohorts) -> Path:
    return simulated_cohorts(7)


@pytest.fixture(scope="module")
def truth(federation) -> dict:
    return json.loads((federation / "truth.json").read_text())


def _inside(variant_id: str, region: GeneRegion) -> bool:
    v = parse_variant_id(variant_id)
    return v.chrom == region.chrom and region.start < v.pos <= region.end


def test_known_regions_hold_the_chosen_causal_variants(federation, truth):
    record = truth["gene_list"]
    regions = {r.name: r for r in load_gene_regions(federation / GENE_LIST)}
    causal = truth["model"]["causal_variants"]
    common = [v for v in causal if v["kind"] == "common"]
    score = {v["id"]: abs(v["effect"]) * math.sqrt(2 * v["alt_freq"] * (1 - v["alt_freq"])) for v in common}
    top = sorted(score, key=score.get, reverse=True)[: math.ceil(len(common) / 2)]
    expected = {v["id"] for v in causal if v["kind"] == "rare"} | set(top)
    assert set(record["causal_chosen"]) == expected
    known = [regions[name] for name in record["known_regions"]]
    for vid in expected:
        assert any(_inside(vid, r) for r in known), vid
    covered = {v["id"] for v in causal if any(_inside(v["id"], r) for r in known)}
    assert set(record["causal_covered"]) == covered and record["n_causal_covered"] == len(covered)
    assert record["n_causal"] == len(causal) and record["n_causal_chosen"] == len(expected)


def test_as_many_decoys_as_wide_and_none_holds_a_causal_variant(federation, truth):
    record = truth["gene_list"]
    regions = {r.name: r for r in load_gene_regions(federation / GENE_LIST)}
    assert record["n_decoys"] == record["n_known"] == len(record["decoy_regions"]) > 0
    assert set(regions) == set(record["known_regions"]) | set(record["decoy_regions"])
    assert sorted(regions) == [f"GENE{k:04d}" for k in range(1, len(regions) + 1)]
    causal = [v["id"] for v in truth["model"]["causal_variants"]]
    decoys = [regions[name] for name in record["decoy_regions"]]
    assert not any(_inside(vid, r) for vid in causal for r in decoys)
    widths = sorted(r.length for r in decoys)
    assert widths == sorted(regions[name].length for name in record["known_regions"])
    spans = sorted((r.chrom, r.start, r.end) for r in regions.values())
    for (c1, _, e1), (c2, s2, _) in zip(spans, spans[1:], strict=False):
        assert c1 != c2 or e1 <= s2  # no two regions overlap
    panel = VariantPanel.load(federation / "panel.tsv")
    for region in decoys:  # every decoy holds panel variants, as the known regions do
        assert len(variants_in_regions(panel, [region])) > 0


def test_half_width_follows_the_genome_length(truth):
    record = truth["gene_list"]
    assert record["half_width_bp"] < 20_000  # the small preset's chromosomes are 40 kb long
    assert record["n_regions"] == record["n_known"] + record["n_decoys"]


def test_names_do_not_follow_truth_or_position(federation, truth):
    record = truth["gene_list"]
    lines = (federation / GENE_LIST).read_text().splitlines()
    names = [line.split("\t")[3] for line in lines]
    assert names != sorted(names)  # written by position, named at random
    assert record["known_regions"] != [f"GENE{k:04d}" for k in range(1, record["n_known"] + 1)]


def test_existing_federation_gets_the_same_list_and_no_hospital(federation, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(federation, copy)
    (copy / GENE_LIST).unlink()
    truth = json.loads((copy / "truth.json").read_text())
    del truth["gene_list"]
    (copy / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    write_gene_list(copy)
    assert (copy / GENE_LIST).read_bytes() == (federation / GENE_LIST).read_bytes()
    assert (copy / "truth.json").read_bytes() == (federation / "truth.json").read_bytes()
    assert [f.name for f in hospital_folders(copy)] == ["astrakhan", "elista", "rostov"]


def test_other_seed_other_list(federation, truth):
    panel = VariantPanel.load(federation / "panel.tsv")
    causal = truth["model"]["causal_variants"]
    same = simulate_gene_list(panel, causal, truth["seed"])
    assert same.regions == load_gene_regions(federation / GENE_LIST)
    other = simulate_gene_list(panel, causal, truth["seed"] + 1)
    assert other.chosen == same.chosen and other.regions != same.regions


def test_the_list_changes_no_simulated_byte(federation, tmp_path, monkeypatch):
    """The same seed simulated without the gene list: every other file is byte for byte the same."""
    monkeypatch.setattr(build, "write_gene_list", lambda _folder: None)
    without = tmp_path / "without"
    build.simulate_cohorts(without, preset="small", seed=7)
    files = sorted(p.relative_to(without) for p in without.rglob("*") if p.is_file())
    assert Path(GENE_LIST) not in files
    for path in files:
        if path.name != "truth.json":
            assert (without / path).read_bytes() == (federation / path).read_bytes(), path
    with_list = json.loads((federation / "truth.json").read_text())
    del with_list["gene_list"]
    assert with_list == json.loads((without / "truth.json").read_text())


def test_a_folder_without_truth_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no truth.json"):
        write_gene_list(tmp_path)


def test_rare_and_top_common_are_chosen_on_a_hand_made_model():
    panel = VariantPanel([f"1:{p}:A:G" for p in range(1_000, 2_000_000, 1_000)], np.full(1999, 0.3))
    causal = [
        {"id": "1:100000:A:G", "effect": 0.5, "alt_freq": 0.3, "kind": "common"},
        {"id": "1:500000:A:G", "effect": 0.1, "alt_freq": 0.3, "kind": "common"},
        {"id": "1:900000:A:G", "effect": 0.5, "alt_freq": 0.001, "kind": "common"},  # rare-ish: small score
        {"id": "1:1500000:A:G", "effect": 2.0, "alt_freq": 0.002, "kind": "rare"},
    ]
    gene_list = simulate_gene_list(panel, causal, seed=3)
    assert gene_list.chosen == ("1:100000:A:G", "1:500000:A:G", "1:1500000:A:G")
    assert gene_list.half_width == 20_000  # a 2 Mb genome has room for 40 kb genes
    assert len(gene_list.known) == len(gene_list.decoys) == 3
    assert simulate_gene_list(panel, causal, seed=3) == gene_list
