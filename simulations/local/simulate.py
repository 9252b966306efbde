"""The local simulation mode: a whole federation on one machine, on Flower's simulation engine.

One virtual SuperNode per hospital folder runs the real ClientApp on that hospital's files; the
real ServerApp coordinates them. Then the same run trains its reference models (each hospital
alone, all pooled) and writes results.json and a report.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from genofed.client.site import SiteTensors, load_site_tensors, resolve_site, split_seed
from genofed.client.trainer import Augment
from genofed.common.data.checks import phenotypes_without_genotypes, zero_ages_note
from genofed.common.data.layout import (
    PANEL,
    TEST,
    TRUTH,
    SiteFolder,
    held_out_label_refusal,
    hospital_folders,
    site_files,
    table_columns,
)
from genofed.common.data.panel import VariantPanel
from genofed.common.data.readers import genotype_sample_ids, read_phenotypes
from genofed.common.data.readers._files import examples
from genofed.common.errors import DataError, GenofedError
from genofed.common.model.network import ModelConfig
from genofed.common.privacy.ledger import LEDGER_FILE, PrivacyLedger
from genofed.common.scoring.model_file import ModelFile, load_model_file
from genofed.common.util.progress import Progress
from genofed.common.util.signals import terminate_as_interrupt
from genofed.server.checkpoint import CHECKPOINTS
from genofed.server.evaluation import TestCohort
from genofed.server.federation import load_test_cohort
from genofed.server.report import write_report
from genofed.server.report.reading import absent_sites
from genofed.server.report.run_files import REFERENCE_PREDICTIONS
from genofed.server.results import (
    FEDERATION_RESULTS,
    MODEL,
    RESULTS,
    with_generator_release,
    write_reference_predictions,
    write_results,
)
from genofed.server.round_log import NothingTrained
from genofed.server.settings import RunSettings
from genofed.server.start_model import start_model
from genofed.simulations.local.baselines import CLASSICAL_REFERENCE, train_references
from genofed.simulations.local.bound_ledgers import say_bound_ledgers
from genofed.simulations.local.failed_start import discarded_unless_trained, trained_rounds
from genofed.simulations.local.interrupt import Interruption, StoppableGrid, shutdown_ray, start_ray
from genofed.simulations.local.site_names import NODE_NAMES, NamedRefusals, NamingGrid, SiteNames
from genofed.simulations.local.synthetic_sites import prepare_synthetic


def simulate(
    settings: RunSettings,
    *,
    progress: Progress | None = None,
    references: bool = True,
    verbose: bool = False,
    require_training: bool = True,
    started: float | None = None,
) -> dict[str, Any]:
    """Run the federation in `settings.data_dir`, then its references; write results.json and the
    report (report.md, report.html); return results.json's content.

    `started`: `time.perf_counter()` when the command began (default: now), from which results.json's
    `wall_seconds` counts this launch. Why: `genofed simulate` imports torch and Flower, prepares RUN
    and, without --data, simulates the cohorts before it calls this; counted from here, the report's
    wall time left that minute out and was read as the whole run's time.

    A run in which no hospital trained in any round (every one refused: a budget spent, a setting
    refused) has no federated model: it fails with the hospitals' refusals (`NothingTrained`) and
    writes no model.pt, results.json nor report, as under `flwr run`; it keeps no checkpoint of a
    round nobody trained in (so RUN is taken back, as after a failed start), and its error gives
    the next step in `genofed simulate`'s terms (`_with_simulate_advice`). `require_training=False`
    records such a run instead (its refusals, the untrained model), for an experiment that judges
    the outcome itself (`simulations.experiments`).

    A run that fails before its first round is checkpointed takes back what it wrote into the run
    folder (`failed_start`), so that RUN is as it was: a rerun, or `--force`, is not refused
    because of a panel.tsv or an empty folder the failed run left."""
    try:
        # SIGTERM (kill, timeout, a scheduler) is Ctrl-C here: the run says where it stopped
        with terminate_as_interrupt(), discarded_unless_trained(Path(settings.out_dir)):
            try:
                return _simulate(
                    settings,
                    progress=progress,
                    references=references,
                    verbose=verbose,
                    require_training=require_training,
                    started=time.perf_counter() if started is None else started,
                )
            except NothingTrained:
                _drop_untrained_rounds(Path(settings.out_dir))
                raise
    except KeyboardInterrupt:
        raise KeyboardInterrupt(_where_it_stopped(settings)) from None
    except NothingTrained as exc:
        raise NothingTrained(_with_simulate_advice(exc.cause, settings)) from None


def _drop_untrained_rounds(out_dir: Path) -> None:
    """Remove the checkpoints of rounds in which no hospital trained (every round after round 0:
    this is called only when no hospital trained in any round of the run).

    Why: such a checkpoint holds the start model again and the refusals, nothing worth resuming;
    kept, it made RUN look like a run with a round done (`--resume` continued after a round that
    never trained, and RUN was not taken back as after any other run that trained nothing)."""
    for path in (out_dir / CHECKPOINTS).glob("round-*.pt"):
        digits = path.stem.removeprefix("round-")
        if digits.isdigit() and int(digits) > 0:
            path.unlink(missing_ok=True)


def _with_simulate_advice(message: str, settings: RunSettings) -> str:
    """`message` (what happened in a run where no hospital trained) with the next step in `genofed simulate`'s
    terms (--resume, --force, --out), not `flwr run`'s `resume=true`, and with what RUN holds now
    (after `_drop_untrained_rounds` and `discarded_unless_trained`)."""
    out = settings.out_dir
    text = message.rstrip().rstrip(".")
    if any((Path(out) / CHECKPOINTS).glob("round-*.pt")):
        step = (
            f"then continue {out} under the same settings with --resume, replace it with --force, "
            "or give the run another --out"
        )
    else:
        step = f"then run genofed simulate again ({out} keeps nothing of this run: no round trained)"
    return f"{text}. Fix the named cause (at the hospitals named, or in the run's settings), {step}"


def _where_it_stopped(settings: RunSettings) -> str:
    """What Ctrl-C left in RUN, for the "interrupted: ..." line: the user's next step is `--resume`
    when a round was checkpointed, a plain rerun when none was (RUN was taken back). A second Ctrl-C
    exits at once, before RUN is taken back: its start (the round-0 checkpoint) resumes too."""
    out, done = settings.out_dir, trained_rounds(Path(settings.out_dir))
    if done:
        return f"{out} holds {done} of {settings.rounds} rounds; continue with the same command and --resume"
    if any((Path(out) / CHECKPOINTS).glob("round-*.pt")):
        return (
            f"no round had finished; {out} holds the run's start: continue with --resume, or replace it "
            "with --force"
        )
    return f"no round had finished; {out} holds nothing to resume"


def _simulate(
    settings: RunSettings,
    *,
    progress: Progress | None,
    references: bool,
    verbose: bool,
    require_training: bool,
    started: float,
) -> dict[str, Any]:
    """`simulate`'s body."""
    say = progress or (lambda _m: None)
    out_dir = Path(settings.out_dir)
    if not settings.ledger_dir:
        settings = replace(settings, ledger_dir=str(out_dir / "privacy-ledgers"))
    hospitals = hospital_folders(settings.data_dir, test_dir=settings.test_dir)
    _check_label_column(hospitals, settings.label_column)
    _check_test_label_column(settings)
    _say_phenotype_notes(settings, hospitals, say)
    say_bound_ledgers(hospitals, settings.ledger_dir, say)  # real patients a hospital ledger holds
    settings = _with_panel(settings, say)
    panel = VariantPanel.load(_panel_file(settings))
    # checked before Flower starts or anything is written, and the model and the rule's values
    # resolved, so that the plan id and results.json's config name what trains; a pretrained
    # model's hash is pinned, so the plan id covers its weights
    begin = start_model(settings, panel)
    settings = begin.settings
    start = begin.weights if settings.pretrained or settings.prior else None
    if settings.pretrained:
        settings = replace(
            settings, pretrained_hash=settings.pretrained_hash or begin.pretrained["content_hash"]
        )
    if not settings.plan_id:
        settings = replace(settings, plan_id=settings.experiment_id())
    folders = hospital_folders(settings.data_dir, test_dir=settings.test_dir)
    # read (and so checked) before Flower starts; optional: without one the hospitals' DP
    # validation releases are the only evaluation, and there are no reference models
    test = load_test_cohort(settings, panel)
    out_dir.mkdir(parents=True, exist_ok=True)
    keep_private(out_dir, Path(settings.data_dir), say)
    if test is None:
        say(
            f"no test cohort ({Path(settings.data_dir) / TEST} absent): the model is evaluated by the "
            "hospitals' DP validation releases only (--site-evaluations); no reference models"
        )
    synthetic = prepare_synthetic(settings, say) if settings.synthetic_ratio > 0 else None
    names = SiteNames((folder.name for folder in folders), store=out_dir / CHECKPOINTS / NODE_NAMES)
    # a resumed run whose earlier launch stopped after its federation: this launch's ServerApp
    # writes the file again, and a stale one must not pass for it
    (out_dir / FEDERATION_RESULTS).unlink(missing_ok=True)
    _run_flower(
        settings, [folder.name for folder in folders], len(panel), names, say, verbose, require_training
    )
    # the hospitals that refused, by name rather than by the node id Flower drew (site_names)
    results = names.renamed(json.loads((out_dir / FEDERATION_RESULTS).read_text()))
    results["synthetic"] = (
        None
        if synthetic is None
        else {
            "ratio": settings.synthetic_ratio,
            "generator": settings.synthetic_generator,
            "generator_epsilon": settings.synthetic_epsilon if settings.private else None,
            "sites": synthetic,
        }
    )
    if synthetic is not None and settings.private:
        results["release_costs"] = _with_generator_releases(settings, results)
    results.update(
        local_only_auc=None,
        local_only_nonprivate_auc=None,
        pooled_auc=None,
        plain_dp_logistic_auc=None,
        plain_dp_logistic=None,
    )
    # the simulator knows its hospitals' case counts; a hospital never releases them
    for name, cases in _case_counts(settings, set(results["sites"])).items():
        results["sites"][name]["cases"] = cases

    results["references"] = references  # the report says baselines were skipped on request
    # an earlier launch's (a resumed run's) must not pass for this launch's references
    (out_dir / REFERENCE_PREDICTIONS).unlink(missing_ok=True)
    results["auc_differences"] = None
    if references and test is not None:
        say(
            "training the reference models: each hospital alone, all hospitals pooled"
            + (", and a plain DP logistic regression federation" if settings.private else "")
        )
        config = ModelConfig.from_dict({k: v for k, v in results["model"].items() if k != "parameters"})
        # loaded once: the references and the adaptations; only the hospitals that trained (one
        # whose data failed its checks would fail here again, after the federation; one never
        # sampled, or refusing every round, gave the federated model none of its patients)
        sites = simulated_sites(settings, only=trained_hospitals(results))
        if sites:
            refs = train_references(
                sites,
                test,
                settings,
                config,
                start,
                augments=_reference_augments(settings, sites),
                panel=panel,
            )
            results.update(
                local_only_auc=refs.local_only_auc,
                local_only_nonprivate_auc=refs.local_only_nonprivate_auc,
                pooled_auc=refs.pooled_auc,
                plain_dp_logistic_auc=refs.plain_dp_logistic_auc,
                plain_dp_logistic=refs.plain_dp_logistic or None,
                # what the references without privacy are (baselines.py): the classical regression
                reference_model=(
                    CLASSICAL_REFERENCE if config.architecture == "logistic" else "the run's model"
                ),
            )
            results["auc_differences"] = _paired_differences(
                out_dir, test, refs.test_risks, keep_file=(Path(settings.data_dir) / TRUTH).exists()
            )
        if sites and config.architecture == "logistic" and (out_dir / MODEL).is_file():
            say("adapting the final model to each hospital's own patients (what `genofed adapt` does there)")
            shared = load_model_file(out_dir / MODEL)
            results["adapted_auc"] = adapted_aucs(shared, sites, test.features, test.labels)
    results["bayes_auc"] = _bayes_auc(Path(settings.data_dir))
    # real exports (no truth.json): the report says its reference figures are exact facts about patients
    results["simulated_patients"] = (Path(settings.data_dir) / TRUTH).exists()
    # this launch from the command's start (the cohorts it simulated and the reference models
    # included; only the report's rendering after it is not), after the time earlier launches of a
    # resumed run spent (the ServerApp read it from the checkpoint resumed from)
    results["wall_seconds"] = results.get("wall_seconds_before", 0.0) + time.perf_counter() - started
    _write_report_then_results(out_dir, results)
    return results


def _paired_differences(
    out_dir: Path, test: TestCohort, risks: dict[str, np.ndarray], *, keep_file: bool
) -> dict[str, Any] | None:
    """results.json `auc_differences`: federated (test_predictions.csv, as the report reads it)
    minus each reference model, from the references' test risks; with `keep_file` (simulated
    patients only) the risks are kept as RUN/reference_predictions.csv, written first and read
    back, as the report reads them. None when no reference had an AUC.

    Real exports keep no such file: a reference model's risks for the test people give the model
    itself (a logistic one's weights are solved from as many people's logits as it has features),
    trained on the hospitals' patients without privacy, far more than its AUC (docs/simulation.md)."""
    from genofed.server.report.differences import auc_differences, differences_record
    from genofed.server.report.run_files import (
        ReferencePredictions,
        read_predictions,
        read_reference_predictions,
    )

    if not risks:
        return None
    predictions = read_predictions(out_dir)
    if not keep_file:  # in the test cohort's row order, as test_predictions.csv
        kept = ReferencePredictions({c: np.asarray(r, dtype=np.float64) for c, r in risks.items()})
        return differences_record(auc_differences(predictions, kept))
    write_reference_predictions(out_dir, list(test.sample_ids), risks)
    return differences_record(auc_differences(predictions, read_reference_predictions(out_dir, predictions)))


def _write_report_then_results(out_dir: Path, results: dict[str, Any]) -> None:
    """The report first, then the final results.json: results.json is what marks a finished run
    (a rerun and `--resume` refuse a folder that holds one), so it is written last. A report that
    cannot be rendered still leaves the run's record (model.pt and the ledgers are already written,
    the privacy spent): results.json is written, and the failure raised with how to render it again,
    so that the run does not end as if it were complete. The ServerApp's federation-results.json,
    which results.json completes, goes once results.json is written."""
    try:
        write_report(out_dir, results)
    except Exception as exc:
        from genofed.server.app import RERENDER

        _write_final_results(out_dir, results)
        raise GenofedError(
            f"the run finished and {out_dir / RESULTS} and its model are written, but its report could not "
            f"be rendered ({type(exc).__name__}: {exc}); render it again with: "
            + RERENDER.format(out_dir=out_dir)
        ) from exc
    _write_final_results(out_dir, results)


def _write_final_results(out_dir: Path, results: dict[str, Any]) -> None:
    """results.json, then the ServerApp's federation-results.json it completes is removed."""
    write_results(out_dir, results)
    (out_dir / FEDERATION_RESULTS).unlink(missing_ok=True)


def _with_generator_releases(settings: RunSettings, results: dict[str, Any]) -> dict[str, Any]:
    """results.json `release_costs` with each hospital's synthetic-data generator's release composed
    in (`with_generator_release`): the simulator reads each virtual hospital's ledger, which the
    generator was charged to before the federation (its `validation.json` names the ledger plan)."""
    from genofed.client.synth import SUMMARY_FILE

    costs = dict(results.get("release_costs") or {})
    plan = results.get("plan_id") or settings.plan_id
    for i, folder in enumerate(hospital_folders(settings.data_dir, test_dir=settings.test_dir)):
        if folder.name not in costs:
            continue
        site = resolve_site({"partition-id": i}, settings.to_config())
        summary = site.synthetic / SUMMARY_FILE if site.synthetic is not None else None
        ledger_file = site.state_dir / LEDGER_FILE
        if summary is None or not summary.is_file() or not ledger_file.is_file():
            continue
        generator_plan = json.loads(summary.read_text()).get("ledger_plan")
        if not generator_plan:
            continue
        ledger = PrivacyLedger(ledger_file)
        generator = [c.step for c in ledger.charges if c.plan_id == generator_plan]
        run = [c.step for c in ledger.charges if c.plan_id == plan and c.kind in ("train", "evaluate")]
        costs[folder.name] = with_generator_release(costs[folder.name], generator, run, settings.delta)
    return costs


def adapted_aucs(
    shared: ModelFile, sites: dict[str, SiteTensors], x_test: np.ndarray, y_test: np.ndarray
) -> dict[str, float | None]:
    """Each hospital's `genofed adapt` of the run's final model `shared`, fitted on its training
    split (the threshold read off its validation split) without privacy, at home, scored on the
    test cohort."""
    from genofed.common.scoring.adapt import adapted_test_auc

    return {
        name: adapted_test_auc(
            shared, (d.train_x, d.train_y), (d.val_x, d.val_y), (x_test, y_test), source=name
        )
        for name, d in sites.items()
    }


def _check_label_column(folders: list[SiteFolder], column: str) -> None:
    """Refuse, before Flower starts, a label column no hospital has: a wrong --label-column, not
    broken data at one site (which drops that site out of the run, as a real one would). The
    phenotype reader's error lists the columns that look like a binary label; its advice is
    given as `genofed simulate` takes it (no node config here)."""
    if all(column not in table_columns(f.phenotypes) for f in folders):
        try:
            read_phenotypes(folders[0].phenotypes, label_column=column)
        except DataError as exc:
            raise DataError(
                exc.file, exc.problem, location=exc.location, hint=_without_node_config(exc.hint)
            ) from None


def keep_private(out_dir: Path, data_dir: Path, say: Progress) -> None:
    """Make RUN readable by its owner only (mode 0700) when the hospitals' patients are real (no
    truth.json): its report and results.json hold figures computed on them without privacy (the
    references, the case counts), the privacy ledgers their noise secrets, test_predictions.csv
    each test patient's risk; under the usual umask 022 an audit found them all world-readable.
    Simulated patients' runs keep the umask's mode."""
    if (data_dir / TRUTH).exists():
        return
    out_dir.chmod(0o700)
    say(f"{out_dir}: readable by you only (mode 0700): it holds figures computed on the patients")


def _say_phenotype_notes(settings: RunSettings, folders: list[SiteFolder], say: Progress) -> None:
    """Say, before the run, what the phenotype reader notes of the hospitals' and the test
    cohort's files (columns no model reads, with the rename hint for `gender` or `age_years`; a
    0/1 sex column read as 0 = male) and an age column all 0: the hospitals read their files inside
    Flower's workers, whose notes the user never sees, so an outside walkthrough trained with every
    patient's sex and age unknown and was not told. One line per distinct note, naming the cohorts
    it is about; a file the reader refuses is left to that hospital's own refusal in the run.
    `folders`: the hospitals' (`hospital_folders`); the test cohort's is added here."""
    test = Path(settings.test_dir) if settings.test_dir else Path(settings.data_dir) / TEST
    if test.is_dir() and (found := site_files(test)) is not None:
        folders = [*folders, found]
    cohorts: dict[str, list[str]] = {}
    for folder in folders:
        try:
            read = read_phenotypes(folder.phenotypes, label_column=settings.label_column)
            # rows of patients with no genotypes (a registry lists more), which the hospital leaves out
            genotyped = genotype_sample_ids(folder.genotypes)
            extra = phenotypes_without_genotypes(genotyped, str(folder.genotypes), read)
        except DataError:
            continue
        ages = [zero_ages_note(str(c), read.covariates[c]) for c in read.covariates.columns]
        for note in [*read.notes, *(a for a in ages if a), *(w.message for w in extra)]:
            cohorts.setdefault(note, []).append(folder.name)
    for note, names in cohorts.items():
        say(f"warning: {', '.join(names)}: {note}")


def _without_node_config(hint: str | None) -> str | None:
    """A reader's hint without its "(node config: ...)" aside, which is for deployed hospitals."""
    return re.sub(r"\s*\(node config: [^)]*\)", "", hint) if hint else hint


def _check_test_label_column(settings: RunSettings) -> None:
    """Refuse, before anything is written, a test cohort whose phenotype file lacks the hospitals'
    label column. The reader would advise `--label-column <the test file's column>`, which every
    hospital would then fail: the test cohort is scored with the hospitals' column, so it is the
    test file's column that must be renamed."""
    folder = Path(settings.test_dir) if settings.test_dir else Path(settings.data_dir) / TEST
    test = site_files(folder) if folder.is_dir() else None
    column = settings.label_column
    if test is None or column in (found := table_columns(test.phenotypes)) or not found:
        return  # no test cohort, the column is there, or an unreadable file (its reader says why)
    try:
        read_phenotypes(test.phenotypes, label_column=column)
    except DataError as exc:
        raise held_out_label_refusal(exc, column) from None


def _with_panel(settings: RunSettings, say: Progress) -> RunSettings:
    """The run's panel: `settings.panel`, else the data folder's panel.tsv, else one built from the
    hospitals' variant summaries into the run folder (`run_panel.panel_for_run`, which says so).
    Only a panel other than the folder's own is written into the settings, so the settings (and
    `--resume` of runs made before) stay as they were for a folder with its own panel."""
    if settings.panel:
        return settings
    from genofed.simulations.local.run_panel import panel_for_run

    path = panel_for_run(
        Path(settings.data_dir),
        Path(settings.out_dir),
        label_column=settings.label_column,
        test_dir=settings.test_dir,
        progress=say,
    )
    return settings if path == Path(settings.data_dir) / PANEL else replace(settings, panel=str(path))


def _panel_file(settings: RunSettings) -> Path:
    """The panel file `settings` name: `panel`, else `data_dir/panel.tsv`."""
    return Path(settings.panel) if settings.panel else Path(settings.data_dir) / PANEL


def simulated_sites(settings: RunSettings, only: set[str] | None = None) -> dict[str, SiteTensors]:
    """Each hospital folder's data as its virtual SuperNode sees it: the very split its
    ClientApp trains on, so reference models differ from the federation only in the sharing.
    `only`: just these hospitals (e.g. those that took part; cached per process either way)."""
    sites = {}
    for i, folder in enumerate(hospital_folders(settings.data_dir, test_dir=settings.test_dir)):
        if only is not None and folder.name not in only:
            continue
        site = resolve_site({"partition-id": i}, settings.to_config())
        sites[folder.name] = load_site_tensors(site, split_seed(site, settings.seed))
    return sites


def trained_hospitals(results: dict[str, Any]) -> set[str]:
    """The hospitals of `results` that trained in some round: those the reference models may use.

    Why: the pooled reference stands for "the federation's patients in one place"; a hospital that
    never trained (never sampled at --fraction-train below 1, or refusing every round it was asked)
    gave the federated model none of its patients, so, like a hospital whose data failed its checks,
    it is left out of the references and the report names it as absent (`absent_sites`)."""
    return set(results["sites"]) - set(absent_sites(results))


def _reference_augments(settings: RunSettings, sites: dict[str, SiteTensors]) -> dict[str, Augment]:
    """Each hospital's augmentation as its ClientApp trains with it (`site_augmentation`: the run's
    --augment unless the hospital's own config sets one); a hospital training without is not named.

    Why: "alone, same privacy" must differ from the federation only in the sharing; without this
    the references trained without the augmentation the hospitals trained with."""
    from genofed.client.augmentation import site_augmentation

    augments = {}
    for i, folder in enumerate(hospital_folders(settings.data_dir, test_dir=settings.test_dir)):
        if folder.name in sites:
            site = resolve_site({"partition-id": i}, settings.to_config())
            _, augment, _ = site_augmentation(
                settings.augment, site, sites[folder.name], private=settings.private
            )
            if augment is not None:
                augments[folder.name] = augment
    return augments


def _case_counts(settings: RunSettings, names: set[str]) -> dict[str, int]:
    """Cases of each named hospital, from its phenotype file's rows of genotyped patients: a
    hospital that took part passed `load_site`'s join, so each of its patients has a row; a row
    without genotypes (a registry export lists more patients than were genotyped) is no patient of
    its cohort and is not counted. The genotyped ids come from the genotype file's header or .fam
    (`genotype_sample_ids`): reading genotypes here would parse every hospital's genotypes once
    more in this process, and hold them all."""
    counts = {}
    for f in hospital_folders(settings.data_dir, test_dir=settings.test_dir):
        if f.name in names:
            pheno = read_phenotypes(f.phenotypes, label_column=settings.label_column)
            genotyped = set(genotype_sample_ids(f.genotypes))
            rows = zip(pheno.sample_ids, pheno.labels, strict=True)
            counts[f.name] = sum(int(label) for sample, label in rows if sample in genotyped)
    return counts


def usable_cpus() -> int:
    """Cores this process may run on (its CPU affinity, which a container or `taskset` sets),
    not `os.cpu_count()`, the machine's: Ray starts one ClientApp actor per core it is given."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def engine_environment(*, terminal: bool) -> None:
    """The environment Flower's simulation engine and Ray read, where the user has not set it: no
    telemetry, every worker's log line printed (not deduplicated), and, when stderr is no `terminal`
    (a file or a pipe), no ANSI colour on the workers' `(ClientAppActor pid=...)` prefixes, which Ray
    writes there too and a log reader sees as `[36m(` (a walkthrough's `simulate ... | tail`)."""
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    if not terminal:
        os.environ.setdefault("RAY_COLOR_PREFIX", "0")


def _run_flower(
    settings: RunSettings,
    hospitals: list[str],
    variants: int,
    names: SiteNames,
    say: Progress,
    verbose: bool,
    require_training: bool,
) -> None:
    """Flower's simulation engine (Ray backend), one virtual SuperNode per hospital folder
    (`hospitals`, in partition order), aligned to the run's panel of `variants` variants. A hospital
    that refuses is named by `names` in the progress lines, the coordinator's log lines and errors
    (`site_names`)."""
    engine_environment(terminal=sys.stderr.isatty())
    from flwr.simulation import run_simulation

    from genofed.client.app import make_client_app
    from genofed.server.app import make_server_app

    config = settings.to_config()
    # Flower logs every round at INFO, run_simulation's deprecation and each worker's end at WARNING
    flower_level = None if verbose else logging.ERROR
    if flower_level is not None:
        logging.getLogger("flwr").setLevel(flower_level)
    rounds = f"{settings.rounds} round" + ("" if settings.rounds == 1 else "s")
    say(f"starting Flower's simulation engine: {len(hospitals)} hospitals, {rounds}")
    # Ctrl-C or SIGTERM ends the ServerApp's thread too, quietly; a second one exits at once (interrupt.py)
    interruption = Interruption(lambda: _where_it_stopped(settings))
    server_app = make_server_app(
        config,
        progress=names.progress(say),
        report=False,  # written once, in the end
        require_training=require_training,
        wrap_grid=lambda grid: StoppableGrid(NamingGrid(grid, names), interruption.stopped),
    )
    backend_config: dict[str, Any] = {
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
        "init_args": {
            "num_cpus": usable_cpus(),
            "include_dashboard": False,
            "logging_level": "WARNING" if not verbose else "INFO",
        },
    }

    def start_engine() -> None:
        """Ray started, then the hospitals' minute of reading said (`_reading_line`)."""
        start_ray(backend_config["init_args"])
        say(_reading_line(hospitals, variants))

    try:
        with (
            # Ray's init's and run_simulation's notices (`flwr run` needs a SuperLink) are not the user's
            warnings.catch_warnings(action="ignore"),
            names.naming_logs(),
            # Ray started before Flower, so that SIGTERM stops the run as Ctrl-C does (interrupt.py)
            interruption.handling_stop_signals(start_engine=start_engine),
            interruption.quiet_flower_logs(),
        ):
            run_simulation(
                server_app=server_app,
                client_app=NamedRefusals(make_client_app(config), hospitals, settings.data_dir, flower_level),
                num_supernodes=len(hospitals),
                backend_config=backend_config,
                verbose_logging=verbose,
            )
    except Exception as exc:
        if interruption.stopped.is_set():  # what the ServerApp met after Ctrl-C is not the news
            raise KeyboardInterrupt from None
        if isinstance(exc, GenofedError):  # e.g. too few hospitals can take part: name them
            names.named_error(exc)
        raise
    finally:
        shutdown_ray()  # Flower's own shutdown, unless its engine failed before it had a backend
    if interruption.stopped.is_set():  # Ctrl-C after the ServerApp's last exchange
        raise KeyboardInterrupt
    if not (Path(settings.out_dir) / FEDERATION_RESULTS).exists():
        raise RuntimeError("the federation ended without results; rerun with --verbose to see Flower's log")


def _reading_line(hospitals: list[str], variants: int) -> str:
    """The progress line said once Ray is up, before the hospitals read their files.

    Why: each hospital reads and checks its genotypes inside Flower's workers before it can answer
    the coordinator, which on a large cohort takes a minute or more; with nothing said between
    "starting Flower's simulation engine" and the line that lists the hospitals' sizes (said when
    they are all ready), a walkthrough took the run for hung."""
    return (
        f"Ray started; the hospitals read and check their data ({examples(hospitals)}), aligned to "
        f"the panel's {variants:,} variants: the first round starts once they are all ready"
    )


def _bayes_auc(data_dir: Path) -> float | None:
    truth = data_dir / TRUTH
    return json.loads(truth.read_text()).get("bayes_auc") if truth.exists() else None
