"""`genofed pretrain`: source-model training, its settings and its model files."""
