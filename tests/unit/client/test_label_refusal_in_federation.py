"""A simulation's hospital whose phenotype file lacks the run's label column says the federation's
remedy on its own 'refusing:' line (rename this hospital's column to the run's), not the single
file's hint "pass --label-column <its name>", which would refuse every other hospital. `genofed data
check` and a deployed hospital (whose node config's label-column is its own) keep that hint."""

from __future__ import annotations

import logging

import pytest
from flwr.app import Context, Message, MessageType, RecordDict

from genofed.client.app import _guarded
from genofed.common.data.readers.phenotypes import LabelColumnMissing, read_phenotypes

pytestmark = pytest.mark.usefixtures("flower_task_identity")

RUN = {"data-dir": "fed", "label-column": "disease"}


@pytest.fixture
def russian_label(tmp_path):
    path = tmp_path / "phenotypes.csv"
    path.write_text("sample_id,Заболевание\n" + "".join(f"S{i},{i % 2}\n" for i in range(10)))
    return path


def _refusal_line(path, node_config, caplog, *, column: str = "disease") -> str:
    asked = Message(RecordDict(), dst_node_id=1, message_type=MessageType.TRAIN)
    context = Context(run_id=1, node_id=7, node_config=node_config, state=RecordDict(), run_config=RUN)

    def handler():
        read_phenotypes(path, label_column=column)

    with caplog.at_level(logging.ERROR, logger="genofed.client.app"):
        assert _guarded(asked, handler, context, {}).has_error()
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refusing:")]
    return line


def test_a_simulated_hospital_is_told_to_rename_its_column_to_the_runs(russian_label, caplog):
    line = _refusal_line(russian_label, {"partition-id": 0}, caplog)
    assert "no 'disease' column; columns that look like a binary label: 'Заболевание'" in line
    assert "pass --label-column" not in line
    assert "the run's label column is 'disease'" in line
    assert "rename this hospital's column 'Заболевание' to 'disease'" in line
    assert "rerun with --label-column Заболевание only if every hospital's phenotype file" in line


def test_without_a_candidate_it_is_told_to_add_the_runs_column(tmp_path, caplog):
    path = tmp_path / "phenotypes.csv"
    path.write_text("sample_id,age\n" + "".join(f"S{i},{40 + i}\n" for i in range(10)))
    line = _refusal_line(path, {"partition-id": 0}, caplog)
    assert "named 'disease': the run's label column, one name for every hospital" in line
    assert "--label-column NAME" not in line


def test_a_deployed_hospital_and_data_check_keep_the_single_files_hint(russian_label, caplog):
    deployed = {"genotypes": "g.vcf.gz", "phenotypes": str(russian_label), "panel": "p", "state-dir": "s"}
    line = _refusal_line(russian_label, deployed, caplog)
    assert "pass --label-column Заболевание (node config: label-column=Заболевание)" in line
    with pytest.raises(LabelColumnMissing) as refused:  # what `genofed data check` prints
        read_phenotypes(russian_label, label_column="disease")
    assert refused.value.hint == "pass --label-column Заболевание (node config: label-column=Заболевание)"
