"""The paper's experiments: transfer learning, augmentation, synthetic-data fidelity and utility."""
