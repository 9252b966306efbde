"""Transfer learning experiment: sources near and far, fine-tuning modes."""
