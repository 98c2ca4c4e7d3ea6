"""The built-in small VLM (``task: vlm``): recipe, data, training, generation."""
