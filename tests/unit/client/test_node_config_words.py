"""A deployed hospital's yes/no node config: `require-secagg=on` once read as false, so a hospital
that asked to train only under secure aggregation trained without it, without a word."""

from __future__ import annotations

import pytest

from genofed.client.site import resolve_site
from genofed.common.errors import ConfigError


def _node_config(tmp_path, **extra) -> dict:
    return {
        "genotypes": str(tmp_path / "genotypes.vcf"),
        "phenotypes": str(tmp_path / "phenotypes.csv"),
        "panel": str(tmp_path / "panel.tsv"),
        "state-dir": str(tmp_path / "state"),
        "site-name": "rostov",
        **extra,
    }


@pytest.mark.parametrize("word", ["on", "ture", "required"])
def test_require_secagg_in_other_words_is_refused(tmp_path, word):
    with pytest.raises(ConfigError, match=f"require-secagg={word!r} is neither true nor false"):
        resolve_site(_node_config(tmp_path, **{"require-secagg": word}), {})


@pytest.mark.parametrize(("word", "required"), [("true", True), ("YES", True), ("0", False), (True, True)])
def test_require_secagg_reads_true_and_false(tmp_path, word, required):
    assert resolve_site(_node_config(tmp_path, **{"require-secagg": word}), {}).require_secagg is required
    assert resolve_site(_node_config(tmp_path), {}).require_secagg is False
