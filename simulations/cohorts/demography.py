"""A demographic history for the Southern Federal District's main ancestries.

Four present-day populations stand for the district's mix: East-European (Russian),
North-Caucasian (Adyghe), Turkic / Central-Asian, and Kalmyk (East-Asian-like, Oirat origin).
The history is a deliberately simple, literature-shaped sketch (generation time ~29 years):

- West and East Eurasians split ~1,600 generations ago (~45,000 years);
- North Caucasians split from East Europeans ~500 generations ago (~15,000 years);
- the Turkic population formed by admixture ~60 generations ago (~1,700 years), 60 % West and
  40 % East Eurasian, as Central-Asian Turkic peoples are;
- neighbouring populations exchange migrants since then.

Sizes are constant effective sizes: recent growth would add realism in the rarest variants but
makes the coalescent of a 100,000-person pool several times slower, and our panel drops
variants below MAF 0.2 % anyway. Different sizes give different drift, hence population-specific
allele frequencies (the non-IID structure that matters for federated learning).
"""

from __future__ import annotations

import msprime

#: Present-day populations, in the order the pool samples them.
POPULATIONS: tuple[str, ...] = ("russian", "adyghe", "turkic", "kalmyk")

_SIZES = {
    "russian": 20_000,
    "adyghe": 6_000,
    "turkic": 12_000,
    "kalmyk": 4_000,
    "west_eurasian": 10_000,
    "ancestral": 10_000,
}
_ADMIXTURE_TIME = 60
_CAUCASUS_SPLIT = 500
_EAST_WEST_SPLIT = 1_600
_MIGRATION = (
    ("russian", "adyghe", 1e-4),
    ("russian", "turkic", 1e-4),
    ("turkic", "kalmyk", 5e-5),
    ("russian", "kalmyk", 2e-5),
)


def district_demography() -> msprime.Demography:
    """The msprime demography described in the module docstring."""
    demography = msprime.Demography()
    for name, size in _SIZES.items():
        demography.add_population(name=name, initial_size=size)
    for a, b, rate in _MIGRATION:
        demography.set_symmetric_migration_rate([a, b], rate)
    # before it formed, the Turkic population exchanges no migrants
    for other in ("russian", "kalmyk"):
        demography.add_symmetric_migration_rate_change(
            time=_ADMIXTURE_TIME, populations=["turkic", other], rate=0
        )
    demography.add_admixture(
        time=_ADMIXTURE_TIME, derived="turkic", ancestral=["russian", "kalmyk"], proportions=[0.6, 0.4]
    )
    demography.add_population_split(
        time=_CAUCASUS_SPLIT, derived=["russian", "adyghe"], ancestral="west_eurasian"
    )
    demography.add_population_split(
        time=_EAST_WEST_SPLIT, derived=["west_eurasian", "kalmyk"], ancestral="ancestral"
    )
    demography.sort_events()
    return demography
