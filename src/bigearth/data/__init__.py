"""The reBEN data as files (official layout, store) and as tensors (datasets, transforms)."""
