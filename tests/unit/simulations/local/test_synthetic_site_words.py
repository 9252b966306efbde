"""What `genofed simulate --synthetic-ratio` says a virtual site is doing before its batch: the
reference generator trains nothing, and was announced as "training its REFERENCE generator"."""

from __future__ import annotations

import math

from genofed.client.synth import SynthOptions
from genofed.simulations.local.synthetic_sites import making


def test_the_reference_generator_is_not_said_to_train():
    line = making(SynthOptions(generator="reference", reference="panel.vcf.gz", epsilon=math.inf))
    assert "training" not in line and "REFERENCE" not in line
    assert "reference generator" in line and "public panel" in line and "no DP" in line


def test_the_networks_are_said_to_train_with_their_epsilon():
    line = making(SynthOptions(generator="gan", epsilon=8.0))
    assert "training its GAN generator" in line and "DP epsilon 8" in line
