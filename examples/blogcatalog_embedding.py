"""BlogCatalog end to end: DeepWalk embeddings, node classification, link prediction, export.

    PYTHONPATH=. python examples/blogcatalog_embedding.py --root ../shared/data/blogcatalog --out runs/blogcatalog

Trains with the defaults of ``graphsys embed`` (on the CPU, or ``--device cuda``), scores
one-vs-rest logistic regression at 10 %, 50 % and 90 % labelled nodes (top-k Micro/Macro-F1),
then trains again with 10 % of the edges held out and scores them against as many random
non-edges (AUC), and writes the embeddings as word2vec text (node ids as keys).
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from embedding import (
    EmbeddingConfig,
    EmbeddingTrainer,
    link_prediction_auc,
    node_classification,
    sample_non_edges,
    split_edges,
)
from graphsys.cli.embed import write_w2v
from graphsys.datasets import load

log = logging.getLogger("blogcatalog")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="../shared/data/blogcatalog", help="folder holding blogcatalog.mat")
    parser.add_argument("--out", default="runs/blogcatalog", help="where the word2vec file goes")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="deepwalk", choices=["deepwalk", "line", "node2vec"])
    parser.add_argument("--epochs", type=float, default=None, help="default: the config's (225)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    dataset = load("blogcatalog", root=args.root)
    graph = dataset.graph
    config = EmbeddingConfig(model=args.model, **({"epochs": args.epochs} if args.epochs else {}))
    log.info("%s: %d nodes, %d edges (both directions), %d labels", dataset.name, graph.num_nodes,
             graph.num_edges, dataset.num_classes)

    trainer = EmbeddingTrainer(graph.indptr, graph.indices, config, devices=[args.device])
    result = trainer.fit(quiet=args.quiet)
    log.info("trained %d samples in %.1f s (%.2e samples/s, limited by the %s)", result.samples, result.seconds,
             result.samples_per_s, result.bottleneck)
    embeddings = trainer.node_embeddings()  # vertex + context
    t0 = time.perf_counter()
    for scores in node_classification(embeddings, dataset.y, (0.1, 0.5, 0.9), seed=0):
        log.info("labelled %.0f%%: Micro-F1 %.4f  Macro-F1 %.4f", 100 * scores.label_ratio, scores.micro_f1,
                 scores.macro_f1)
    log.info("classification took %.1f s", time.perf_counter() - t0)

    split = split_edges(graph.indptr, graph.indices, 0.1, seed=0)
    held_out = EmbeddingTrainer(split.indptr, split.indices, config, devices=[args.device])
    held_out.fit(quiet=args.quiet)
    non_edges = sample_non_edges(graph.indptr, graph.indices, split.test_edges.shape[1], seed=1)
    auc = link_prediction_auc(held_out.vertex_embeddings(), held_out.context_embeddings(), split.test_edges,
                              non_edges)
    log.info("link prediction on %d held-out edges: AUC %.4f", split.test_edges.shape[1], auc)

    out = Path(args.out) / "blogcatalog.w2v"
    write_w2v(out, np.arange(graph.num_nodes), embeddings.numpy(), quiet=args.quiet)
    log.info("wrote %s", out)


if __name__ == "__main__":
    main()
