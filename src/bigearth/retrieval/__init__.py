"""Content-based image retrieval over reBEN: exact search on L2-normalised features, multi-label relevance."""
