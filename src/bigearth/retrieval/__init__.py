"""Content-based image retrieval over reBEN: exact search on L2-normalised features, multi-label relevance."""

from bigearth._optional import require

require("faiss", extra="retrieval")
