"""Metrics, reports and plots of trained models, and evaluating a model folder on data."""
