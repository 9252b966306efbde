"""`hospital start --approved-app` naming a bundle other than the one the site's installation builds
is said at start, as a WARNING on the agent's output and in the site's audit log: the site will
answer that bundle with its own installed code (an ML engineer's walkthrough: hospitals on old code
completed an upgraded coordinator's run, and nothing said so)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from genofed.client.agent import launch
from genofed.client.agent.audit import WARNING_TYPE, audit_line, read_audit
from genofed.client.agent.check import check_site
from genofed.client.agent.keys import init_site
from genofed.client.agent.launch import AgentOptions, start_site
from genofed.common.data.layout import hospital_folders
from genofed.common.deployment.app_bundle import approved_app_hash, code_digest
from genofed.server.service.pki import write_pki
from genofed.simulations.local.loopback import free_port


def test_an_approved_app_of_another_build_is_warned_of_at_start(
    tmp_path: Path, cohorts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site, index = tmp_path / "site", tmp_path / "home" / "ledgers.json"
    init_site(site, "rostov")
    data = hospital_folders(cohorts)[0]
    check_site(site, data.genotypes, data.phenotypes, cohorts / "panel.tsv", ledger_index=index)
    write_pki(tmp_path / "pki", ["localhost"])
    monkeypatch.setattr(launch, "serve", lambda folder, launched, options, lock, say, check_ca=None: 0)

    def start(approved: str) -> list[str]:
        said: list[str] = []
        options = AgentOptions(
            coordinator="localhost:9",
            ca=tmp_path / "pki" / "ca.pem",
            local_port=free_port(),
            ledger_index=index,
            approved_app=approved,
        )
        assert start_site(site, options, say=said.append) == 0
        return said

    assert start(approved_app_hash()) == [] and not (site / "audit.jsonl").exists()
    (said,) = start("ab" * 32)
    assert said.startswith("WARNING: --approved-app abababababab is not the app bundle this installation")
    assert f"with its own installed genofed code {code_digest()[:12]}" in said
    assert "start the agent without --approved-app" in said
    (entry,) = read_audit(site / "audit.jsonl")
    assert entry["type"] == WARNING_TYPE and entry["run"] is None
    assert audit_line(entry).endswith(said)


def test_start_help_says_what_approved_app_approves_and_what_not() -> None:
    """`--help` said only "app bundle hash to accept", while the code behind the bundle is never
    checked by it (the walkthrough's hospitals on old code served an upgraded coordinator)."""
    from genofed.cli.main import build_parser

    start = _subcommand(_subcommand(build_parser(), "hospital"), "start")
    text = " ".join(start.format_help().split())
    assert "approves the bundle's bytes, not code" in text
    assert "own installed genofed, whatever code the bundle records" in text
    assert "does not let a site on other code serve an upgraded coordinator" in text


def _subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return commands.choices[name]
