"""Refuse a starting model that was trained on the run's own people.

A `genofed pretrain` model is a run's *public* prior (`--prior`) or start (`--pretrained`): no
ledger charges what it learnt, because its source is meant to be a public or consented cohort
outside the federation. Pretrained on one of the federation's hospitals, it would carry that
hospital's patients into the shared model with no privacy spent; pretrained on the test cohort,
every test AUC of the run would be measured on people the model has seen.

`genofed pretrain` records the SHA-256 of the files it read (its provenance `files`). Here they
are compared with the files of the run's cohorts: each hospital of the data folder (a
simulation) and the coordinator's test cohort. This catches the natural mistake (pretraining on
a hospital's folder, or on a copy of it); a source converted to another format or subset first
has other bytes and is not recognised. A deployed coordinator does not see the hospitals' files,
so there only the test cohort is compared.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from genofed.common.data.layout import TEST, SiteFolder, hospital_folders, site_files
from genofed.common.errors import ConfigError, DataError
from genofed.common.scoring.model_file import PretrainedModel
from genofed.common.util.hashing import file_sha256
from genofed.server.settings import RunSettings

__all__ = ["refuse_seen_patients"]


@dataclass(frozen=True)
class _Cohort:
    """One of the run's cohorts: what it is, in words, and its files."""

    what: str  # e.g. "hospital rostov's patients", "the test cohort"
    site: SiteFolder


def refuse_seen_patients(model: PretrainedModel, settings: RunSettings, option: str, path: str) -> None:
    """Raise ConfigError when `model` (given as `option` `path`) was pretrained on a file of one
    of the run's cohorts (same SHA-256); models without recorded source files pass (a federated
    model's own spend is named elsewhere, `genofed.server.prior`)."""
    trained_on = _source_files(model)
    if not trained_on:
        return
    for cohort in _run_cohorts(settings):
        for file in (cohort.site.genotypes, cohort.site.phenotypes):
            if _sha256(file) in trained_on:
                raise ConfigError(_message(option, path, cohort, file))


def _message(option: str, path: str, cohort: _Cohort, file: Path) -> str:
    if cohort.what == _TEST:
        why = (
            "every test AUC of the run would be measured on people the start has already seen; "
            "pretrain on a cohort outside the test cohort"
        )
    else:
        why = (
            "a start learnt from a hospital's patients carries them into the shared model with no "
            "privacy charged to any ledger; pretrain on a public or consented cohort outside the "
            "federation (e.g. its sources/ folder)"
        )
    return f"{option} {path} was pretrained on {cohort.what} ({file}: the same file, by SHA-256): {why}"


_TEST = "the test cohort"


def _source_files(model: PretrainedModel) -> set[str]:
    """The SHA-256 of every file `genofed pretrain` read for `model` (empty when none is recorded)."""
    files = model.provenance.get("files")
    if not isinstance(files, dict):
        return set()
    return {
        str(entry["sha256"]) for entry in files.values() if isinstance(entry, dict) and entry.get("sha256")
    }


def _run_cohorts(settings: RunSettings) -> list[_Cohort]:
    """The hospitals of the run's data folder (a simulation; none when it cannot be read: the run
    reports that itself) and its test cohort (test-dir, else data-dir/test), when there is one."""
    cohorts: list[_Cohort] = []
    if settings.data_dir:
        try:
            cohorts += [
                _Cohort(f"hospital {site.name}'s patients", site)
                for site in hospital_folders(settings.data_dir, test_dir=settings.test_dir)
            ]
        except DataError:
            pass
    test_folder = (
        Path(settings.test_dir)
        if settings.test_dir
        else (Path(settings.data_dir) / TEST if settings.data_dir else None)
    )
    if test_folder is not None and test_folder.is_dir():
        try:
            test = site_files(test_folder)
        except DataError:  # the run reads its test cohort itself, and says what is wrong
            test = None
        if test is not None:
            cohorts.append(_Cohort(_TEST, test))
    return cohorts


def _sha256(path: Path) -> str:
    """The file's SHA-256, computed once per content version in this process (a simulation checks
    its start up to three times: before --force deletes anything, in simulate, in the ServerApp)."""
    stat = path.stat()
    return _sha256_of(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _sha256_of(path: str, _mtime_ns: int, _size: int) -> str:
    return file_sha256(path)
