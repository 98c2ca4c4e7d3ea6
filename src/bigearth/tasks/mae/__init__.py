"""CSMAE/CSMoE pretraining and the downstream tasks on any encoder: probes, fine-tuning, segmentation."""
