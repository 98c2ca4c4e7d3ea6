"""S1/S2 CLIP: contrastive image-caption training on BigEarthNet.txt, zero-shot classification and text search."""
