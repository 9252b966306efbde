"""Public variant names (dbSNP rsIDs) as a hospital's genotype file carries them.

genofed names a variant `chrom:pos:ref:alt`; a clinician or geneticist looks it up by its rsID
(`rs4988235`), which most array exports and 1000 Genomes VCFs write in the VCF's ID column or
the PLINK .bim's second column. A hospital's variant summary lists the rsIDs its file carries
(`genofed hospital variants`), `coordinator panel` keeps the one its hospitals name for each panel
variant in the panel's optional `rsid` column, and the run report's top variants show it.

An rsID names a variant, not a person: it is as public as the `chrom:pos:ref:alt` the summary
releases already. Only names of the form `rs<number>` are kept: another ID (a lab's own probe
name, `.`) is no public name and could say something about the lab's assay.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from genofed.common.data.readers import is_vcf
from genofed.common.data.readers.plink import plink_prefix
from genofed.common.data.variants import normalize_chrom, parse_variant_id

#: A dbSNP reference SNP id: the only variant names a summary or panel carries.
RSID = re.compile(r"rs[1-9][0-9]*")

logger = logging.getLogger(__name__)

#: A variant as names are matched to it: chromosome, position and its (unordered) allele pair, so
#: that a site's REF/ALT orientation does not matter.
_Key = tuple[str, int, frozenset[str]]


def read_variant_names(genotypes: str | Path, variant_ids: Iterable[str]) -> dict[str, str]:
    """{variant id: rsID} for those of `variant_ids` whose record in the genotype file carries one.

    Args:
        genotypes: the file the ids were read from (VCF/BCF, or a PLINK 1 fileset by its prefix or
            any of its files); a genotype table names its variants by id only and gives {}.
        variant_ids: the ids as the genotype reader wrote them (`chrom:pos:ref:alt`); a
            multi-allelic record's name goes to each of its ALT alleles.

    Names are a convenience on top of a file the genotype reader has already read and checked, so a
    file whose names cannot be read gives {} with a warning, never an error.
    """
    path = Path(genotypes)
    try:
        names = dict(_vcf_names(path) if is_vcf(path) else _plink_names(path) if _is_plink(path) else [])
    except Exception as exc:  # the reader accepted the file: its names are not worth a refusal
        logger.warning(
            "the variant names (rsIDs) in %s could not be read (%s); the summary lists none", path, exc
        )
        return {}
    found = {}
    for variant_id in variant_ids:
        variant = parse_variant_id(variant_id)
        name = names.get((variant.chrom, variant.pos, frozenset((variant.ref, variant.alt))))
        if name is not None:
            found[variant_id] = name
    return found


def public_name(text: str) -> str | None:
    """The first rsID in an ID field (`rs1;rs2`, as VCF separates several), or None."""
    for part in re.split(r"[;,]", text.strip()):
        if RSID.fullmatch(part.strip()):
            return part.strip()
    return None


def _vcf_names(path: Path) -> Iterator[tuple[_Key, str]]:
    from cyvcf2 import VCF

    vcf = VCF(str(path), lazy=True)
    try:
        for record in vcf:
            name = public_name(record.ID or "")
            if name is None:
                continue
            chrom = normalize_chrom(record.CHROM)
            for alt in record.ALT:
                yield (chrom, int(record.POS), frozenset((record.REF, alt))), name
    finally:
        vcf.close()


def _is_plink(path: Path) -> bool:
    prefix = plink_prefix(path)
    return prefix.with_name(prefix.name + ".bim").is_file()


def _plink_names(path: Path) -> Iterator[tuple[_Key, str]]:
    prefix = plink_prefix(path)
    with prefix.with_name(prefix.name + ".bim").open(encoding="utf-8") as bim:
        for line in bim:
            fields = line.split()
            if len(fields) != 6:
                continue
            name = public_name(fields[1])
            if name is not None:
                chrom, pos, a1, a2 = normalize_chrom(fields[0]), int(fields[3]), fields[4], fields[5]
                yield (chrom, pos, frozenset((a2, a1))), name
