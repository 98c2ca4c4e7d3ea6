"""LightningModules, one per learning problem, and what runs them: recipes, run folders, training."""
