"""Vision-language models on BigEarthNet.txt: chat samples, generation, prediction and scoring."""
