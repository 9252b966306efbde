"""A trained risk model as a file, and the scores it gives patients.

Modules:

- `model_file`: the model file (`genofed pretrain` writes one, and so does every federated run):
  weights, config, panel, task and provenance under one content hash, checked on load and
  against a federation's panel.

It sits above `common.data` and `common.model` so that both the coordinator (which writes model
files) and a hospital (which scores its own new patients, without any network) can use it.
"""
