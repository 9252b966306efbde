"""Helpers the test files import (the `tests/` folder is on `sys.path`, see pyproject's pytest
`pythonpath`), so they work from any subfolder of tests/unit and tests/e2e.

- `bench`: `load_bench_script`, a script of bench/ loaded as a module.
- `bgzf`: a bgzip writer with small blocks, for damaging BGZF files at any place.
- `tools`: `require_tool`, an external program's path, or a skip (a failure in CI).
- `secagg`: `small_run_settings`, the small SecAgg+ federation of the unit and e2e tests.
- `synthetic`: `PERMISSIVE`, validation thresholds any synthetic batch passes.
- `mixed_federation`: `write_mixed_federation`, hospitals in every genotype format, phenotype files
  named their own way, the label column called `disease`.
"""

from helpers.bench import load_bench_script
from helpers.bgzf import bgzip
from helpers.tools import require_tool

__all__ = ["bgzip", "load_bench_script", "require_tool"]
