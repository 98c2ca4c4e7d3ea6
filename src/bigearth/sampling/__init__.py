"""Thematic-climatic sampling: a representative and diverse pretraining subset of an archive."""
