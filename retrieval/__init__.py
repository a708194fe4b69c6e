"""Knowledge: documents → passages → MiniLM embeddings → FAISS index (CPU or GPU)."""
