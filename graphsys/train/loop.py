"""The training loop: epochs of sampled minibatches, evaluation, checkpoints and metrics.

One process trains on one device; under ``torchrun`` every process does the same on its
own GPU with its share of the seeds, and ``DistributedDataParallel`` averages gradients.
Everything random (initialisation, seed order, neighbour draws, dropout) is a function of
``(config.seed, epoch, rank)``, so a run resumed from the checkpoint of epoch ``k`` ends
with the same parameters as one that never stopped.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from graphsys.datasets import LinkDataset, NodeDataset
from graphsys.metrics_tensorboard import TensorBoardWriter
from graphsys.train.checkpoint import load_checkpoint, save_checkpoint
from graphsys.train.config import Amp, ModelKind, Task, TrainConfig, check_machine
from graphsys.train.data import TrainData, check_trainable, load_dataset, prepare
from graphsys.train.distributed import DistContext, average_sparse_grads, setup, shard_seeds, teardown
from graphsys.train.evaluate import Scorer, Scores
from graphsys.train.features import cache_counts
from graphsys.train.inference import hetero_layerwise_inference, layerwise_inference, row_wise_inference
from graphsys.train.metrics import EpochMetrics, peak_gpu_mib, peak_host_mib, write_metrics
from graphsys.train.models import build_hetero_model, build_model, build_optimizer
from graphsys.train.pipeline import EpochBatches, EpochPipeline
from zerocopy import SparseRowAdagrad, UnifiedTensor

logger = logging.getLogger(__name__)

StepCallback = Callable[[int, int, torch.nn.Module], None]
EpochCallback = Callable[[EpochMetrics], None]

#: Batches between two progress-bar loss readings: each reading is one host sync, so
#: reading every batch would stall the GPU pipeline; 20 keeps the bar lively at ~1 kHz.
_LOSS_READ_EVERY = 20


@dataclass(frozen=True)
class TrainResult:
    """The outcome of :func:`train`.

    Attributes:
        model: the trained model (plain PyG module, on the training device).
        history: one record per finished epoch, resumed epochs included.
        scores: the last evaluation (None if the run never evaluated).
        rank: this process's rank (0 for a single process); rank 0 reports.
    """

    model: torch.nn.Module
    history: list[EpochMetrics]
    scores: Scores | None
    rank: int = 0

    @property
    def best(self) -> EpochMetrics | None:
        """The evaluated epoch with the best validation score (what OGB reports), None without one."""
        evaluated = [m for m in self.history if m.val_score is not None]
        return max(evaluated, key=lambda m: m.val_score) if evaluated else None


def _input(x: torch.Tensor, amp: Amp) -> torch.Tensor:
    """Features as the model takes them: float32, unless bf16 autocast will cast them anyway.

    Half-precision tables (the papers100M preset stores float16) are widened here, after
    the gather, so that PCIe carries half the bytes. Cost: one cast kernel when widening.
    """
    if amp is Amp.BF16 or x.dtype == torch.float32:
        return x
    return x.float()


def _epoch_seed(config: TrainConfig, epoch: int, rank: int) -> int:
    """A seed for the random draws of one epoch on one rank."""
    return (config.seed * 1_000_003 + epoch) * 4099 + rank


class _Timer:
    """Accumulates the time of a stage: CUDA events on a GPU (no sync until :meth:`seconds`), wall clock on a CPU."""

    def __init__(self, device: torch.device) -> None:
        self._cuda = device.type == "cuda"
        self._pairs: list = []
        self._wall = 0.0

    @contextlib.contextmanager
    def __call__(self):
        if self._cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            yield
            end.record()
            self._pairs.append((start, end))
        else:
            t0 = time.perf_counter()
            yield
            self._wall += time.perf_counter() - t0

    def seconds(self) -> float:
        """Total time so far. Cost on a GPU: one sync (waits for the last recorded event)."""
        if self._cuda and self._pairs:
            self._pairs[-1][1].synchronize()
            self._wall += sum(s.elapsed_time(e) for s, e in self._pairs) / 1e3
            self._pairs.clear()
        return self._wall


class Trainer:
    """Trains the model a :class:`TrainConfig` describes (node classification; link prediction is
    :class:`graphsys.train.link.LinkTrainer`, which shares the epochs, checkpoints and metrics).

    Args:
        config: the run.
        ctx: this process's place in a distributed run (from :func:`graphsys.train.distributed.setup`).
        dataset: an already loaded dataset (default: ``graphsys.datasets.load`` by name).
        on_step: called after every optimizer step with ``(epoch, step, model)``.
        on_epoch: called on rank 0 with each epoch's :class:`EpochMetrics`.

    Example:
        >>> cfg = TrainConfig("cora", layers=2, fanouts=(10, 5), features="cpu", graph="cpu", epochs=2)
        >>> result = Trainer(cfg, ctx=DistContext()).fit()  # doctest: +SKIP
    """

    #: The per-epoch record this trainer writes.
    metrics_type = EpochMetrics

    def __init__(self, config: TrainConfig, *, ctx: DistContext, dataset: NodeDataset | None = None,
                 on_step: StepCallback | None = None, on_epoch: EpochCallback | None = None) -> None:
        self.config = config
        self.ctx = ctx
        self.on_step = on_step
        self.on_epoch = on_epoch
        if dataset is None:  # rank 0 first: a dataset generated or derived on disk is written once
            dataset = ctx.in_turns(lambda: load_dataset(config))
        else:
            check_trainable(dataset)
        self.data: TrainData = prepare(config, dataset, ctx)
        # The placed tables serve from here on; dropping the loaded ones frees their host copies.
        self.dataset = dataclasses.replace(dataset, x={} if self.data.hetero else None)
        if self.data.hetero:
            widths = {t: int(table.shape[1]) for t, table in self.data.features.items()}
            widths.update({t: table.dim for t, table in self.data.embeddings.items()})
            metadata = (list(self.data.num_nodes), list(self.data.indptr))
            self.model = build_hetero_model(config, metadata, widths, dataset.num_classes, dataset.target)
        else:
            self.model = build_model(config, int(self.data.features.shape[1]), dataset.num_classes)
        self.model = self.model.to(ctx.device)
        self.optimizer = build_optimizer(config, self.model)
        # learned inputs of featureless types: only the rows a batch touched change
        self.embedding_optimizer = (SparseRowAdagrad(list(self.data.embeddings.values()), lr=config.embedding_lr)
                                    if self.data.embeddings else None)
        # a heterogeneous dataset has one class per target node
        self.multilabel = not self.data.hetero and dataset.multilabel
        self.scorer = Scorer(dataset.name, multilabel=self.multilabel, num_tasks=dataset.num_classes)
        self.pipeline = EpochPipeline(config, self.data, ctx.device)
        self.history: list[dict] = []
        self.start_epoch = 1
        if config.resume:
            self._restore()
        self.ddp = (
            DistributedDataParallel(self.model, device_ids=[ctx.device] if ctx.device.type == "cuda" else None)
            if ctx.distributed else None
        )

    def close(self) -> None:
        """Release the pinned feature table (unregisters its pages) and the DDP wrapper; the model
        stays usable.

        The wrapper goes first, while its process group is alive: freed after
        ``destroy_process_group`` (when the trainer itself is), its reducer was the group's last
        owner, and gloo's destructor then deadlocked against its own worker thread over the GIL.
        """
        self.ddp = None
        tables = self.data.features.values() if self.data.hetero else [self.data.features]
        for table in tables:
            if isinstance(table, UnifiedTensor):
                table.close()
        if self.embedding_optimizer is not None:
            self.embedding_optimizer.close()
        for table in self.data.embeddings.values():
            table.close()

    # -------------------------------------------------------------- checkpoints
    def _restore(self) -> None:
        ckpt = load_checkpoint(self.config.checkpoint, fingerprint=self.config.fingerprint())
        self.model.load_state_dict(ckpt.model)
        self.optimizer.load_state_dict(ckpt.optimizer)
        if self.embedding_optimizer is not None:
            for node_type, table in self.data.embeddings.items():
                table.load_state_dict(ckpt.embeddings["tables"][node_type])
            self.embedding_optimizer.load_state_dict(ckpt.embeddings["optimizer"])
        self.history = list(ckpt.history)
        self.start_epoch = ckpt.epoch + 1
        logger.info("resumed from %s after epoch %d", self.config.checkpoint, ckpt.epoch)

    def _save(self, epoch: int) -> None:
        if self.ctx.is_main and self.config.checkpoint is not None:
            embeddings = None
            if self.embedding_optimizer is not None:
                embeddings = {"tables": {t: e.state_dict() for t, e in self.data.embeddings.items()},
                              "optimizer": self.embedding_optimizer.state_dict()}
            save_checkpoint(self.config.checkpoint, epoch=epoch, model=self.model, optimizer=self.optimizer,
                            fingerprint=self.config.fingerprint(), history=self.history, embeddings=embeddings)
        if self.ctx.is_main and self.config.metrics_out is not None:
            write_metrics(self.config.metrics_out, self.history)

    def _check_finite(self, epoch: int, loss: float) -> None:
        """Stop a run whose loss or weights are no longer finite, before anything is saved.

        Cost: one reduction per parameter and one host sync, once an epoch.

        Raises:
            TrainingDivergedError: the epoch's loss or a parameter is NaN or infinite.
        """
        weights_ok = bool(torch.stack([torch.isfinite(p).all() for p in self.model.parameters()]).all())
        if math.isfinite(loss) and weights_ok:
            return
        what = f"the training loss is {loss}" if not math.isfinite(loss) else "a model weight is not finite"
        if self.config.checkpoint is None or epoch == 1:
            kept = "no checkpoint was written"
        else:
            kept = f"checkpoint {self.config.checkpoint} still holds epoch {epoch - 1}"
        raise TrainingDivergedError(f"epoch {epoch}: {what} (the run diverged; try a lower --lr); {kept}")

    # ------------------------------------------------------------------ epochs
    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.multilabel:
            return F.binary_cross_entropy_with_logits(out.float(), y)
        return F.cross_entropy(out.float(), y, ignore_index=-1)

    def _seed_outputs(self, net: torch.nn.Module, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The model's outputs for a training batch's seeds and their labels.

        A heterogeneous batch's inputs are each featured type's gathered rows.
        """
        cfg = self.config

        def inputs(x: torch.Tensor) -> torch.Tensor:
            x = _input(x, cfg.amp)
            return F.dropout(x, cfg.input_dropout) if cfg.input_dropout > 0 else x

        seeds = batch[self.dataset.target] if self.data.hetero else batch
        if cfg.model is ModelKind.MLP:
            return net(inputs(seeds.x[: seeds.batch_size])), seeds.y[: seeds.batch_size]
        if not self.data.hetero:
            out = net(inputs(batch.x), batch.edge_index, num_sampled_nodes_per_hop=batch.num_sampled_nodes,
                      num_sampled_edges_per_hop=batch.num_sampled_edges)
            return out[: batch.batch_size], batch.y[: batch.batch_size]
        x = {t: inputs(batch[t].x) for t in self.data.features}
        x.update({t: inputs(table(batch[t].n_id)) for t, table in self.data.embeddings.items()})
        out = net(x, batch.edge_index_dict, batch.num_sampled_nodes_dict, batch.num_sampled_edges_dict)
        return out[: seeds.batch_size], seeds.y[: seeds.batch_size]

    def _epoch_batches(self, epoch: int, seed: int) -> tuple:
        """This rank's batches of ``epoch`` (draws from ``seed``) and how many seeds they cover."""
        seeds = shard_seeds(self.dataset.train_idx, epoch=epoch, seed=self.config.seed, ctx=self.ctx)
        return self.pipeline.epoch(seeds, seed=seed), seeds.numel()

    def _batch_loss(self, net: torch.nn.Module, batch, autocast) -> torch.Tensor:
        """The training loss of one batch (the forward under ``autocast``)."""
        with autocast:
            out, y = self._seed_outputs(net, batch)
        return self._loss(out, y)

    def epoch_batches(self, epoch: int) -> tuple[EpochBatches, int]:
        """This rank's batches of ``epoch`` and how many seeds they cover, with torch's generator
        seeded for the epoch (dropout draws from it): called again for the same epoch, the same
        batches, and steps over them draw the same dropout masks.

        Cost: the pipeline's epoch setup (a copy of the seeds, a range check: one sync).
        """
        seed = _epoch_seed(self.config, epoch, self.ctx.rank)
        torch.manual_seed(seed)
        return self._epoch_batches(epoch, seed)

    def step_context(self) -> tuple[torch.nn.Module, contextlib.AbstractContextManager]:
        """The module a training step runs (the DDP wrapper in a distributed run), put in training
        mode, and the autocast its forward runs under (bf16, or none)."""
        net = self.ddp if self.ddp is not None else self.model
        net.train()
        autocast = (torch.autocast(device_type=self.ctx.device.type, dtype=torch.bfloat16)
                    if self.config.amp is Amp.BF16 else contextlib.nullcontext())
        return net, autocast

    def train_step(self, net: torch.nn.Module, batch, autocast) -> torch.Tensor:
        """One optimizer step on ``batch`` with ``net`` and ``autocast`` from :meth:`step_context`:
        forward, loss, backward, the optimizers' steps; returns the loss, detached, not read back.

        Cost: the model's forward and backward kernels and the optimizer's; no host sync (under DDP
        its gradient all-reduce; with learned input tables their sparse gradients' averaging).
        """
        self.optimizer.zero_grad(set_to_none=True)
        if self.embedding_optimizer is not None:
            self.embedding_optimizer.zero_grad()
        loss = self._batch_loss(net, batch, autocast)
        loss.backward()
        self.optimizer.step()
        if self.embedding_optimizer is not None:
            average_sparse_grads(self.data.embeddings.values(), self.ctx)
            self.embedding_optimizer.step()
        return loss.detach()

    def train_epoch(self, epoch: int) -> dict:
        """One pass over this rank's share of the training seeds; returns loss and stage timings."""
        cfg, ctx, device = self.config, self.ctx, self.ctx.device
        batches, num_seeds = self.epoch_batches(epoch)
        net, autocast = self.step_context()
        compute = _Timer(device)
        loss_sum = torch.zeros((), device=device)
        bar = tqdm(total=len(batches), desc=f"epoch {epoch}", unit="batch", leave=False,
                   disable=cfg.quiet or not ctx.is_main)
        steps = 0
        counts_before = cache_counts(self.data.features)
        t0 = time.perf_counter()
        try:
            for batch in batches:
                with compute():
                    loss = self.train_step(net, batch, autocast)
                    loss_sum += loss
                steps += 1
                if self.on_step is not None:
                    self.on_step(epoch, steps, self.model)
                bar.update(1)
                if steps % _LOSS_READ_EVERY == 0 and not bar.disable:
                    bar.set_postfix(loss=f"{loss.item():.4f}")
        finally:
            bar.close()
        compute_s = compute.seconds()
        train_s = time.perf_counter() - t0
        stages = batches.timings()
        mean_loss = loss_sum.item() / max(steps, 1)
        loss, sample_s, gather_s = ctx.all_mean([mean_loss, stages.sample_s, stages.gather_s])
        cache = {}
        counts_after = cache_counts(self.data.features)
        if counts_before is not None and counts_after is not None:
            hits, misses, host_bytes = (after - before for after, before in zip(counts_after, counts_before,
                                                                               strict=True))
            hit_rate, host_read_mib = ctx.all_mean([hits / max(hits + misses, 1), host_bytes / 2**20])
            cache = {"cache_hit_rate": hit_rate, "host_read_mib": host_read_mib}
        return {"loss": loss, "train_s": train_s, "sample_s": sample_s, "gather_s": gather_s,
                "compute_s": compute_s, "batches": steps, "seeds": num_seeds * ctx.world_size, "cache": cache}

    def evaluate(self) -> Scores:
        """Full-neighbourhood layer-wise inference and the metric on every split (rank 0's work).

        A feature cache sharded over the ranks is read without them meanwhile (``local_reads``: its
        other ranks' rows come from the host), since rank 0 evaluates alone.
        """
        tables = self.data.features.values() if self.data.hetero else [self.data.features]
        with contextlib.ExitStack() as stack:
            for table in tables:
                if isinstance(table, UnifiedTensor):
                    stack.enter_context(table.local_reads())
            return self._evaluate()

    def _evaluate(self) -> Scores:
        cfg, device, data = self.config, self.ctx.device, self.data
        num_nodes = sum(data.num_nodes.values()) if data.hetero else self.dataset.num_nodes
        width = max(cfg.hidden, self.dataset.num_classes)
        embedding_device = device
        if device.type == "cuda" and num_nodes * width * 4 > torch.cuda.mem_get_info(device)[0] // 4:
            embedding_device = torch.device("cpu")
        common = dict(device=device, batch_size=cfg.eval_batch_size, embedding_device=embedding_device, amp=cfg.amp,
                      quiet=cfg.quiet)
        if cfg.model is ModelKind.MLP:
            table = data.features[self.dataset.target] if data.hetero else data.features
            out = row_wise_inference(self.model, table, **common)
        elif data.hetero:
            csr = {et: (data.indptr[et], data.indices[et]) for et in data.indptr}
            inputs = {**data.features, **{t: table.weight for t, table in data.embeddings.items()}}
            out = hetero_layerwise_inference(self.model, csr, inputs, data.num_nodes, **common)
        else:
            out = layerwise_inference(self.model, data.indptr, data.indices, data.features, **common)
        ds = self.dataset
        return self.scorer.scores(out, self.data.labels, ds.train_idx, ds.val_idx, ds.test_idx)

    def fit(self) -> TrainResult:
        """Train from :attr:`start_epoch` to ``config.epochs``, evaluating and checkpointing every epoch.

        On Ctrl-C the epoch in progress is abandoned and the last checkpoint (of the last
        finished epoch) stays as it was; ``KeyboardInterrupt`` is re-raised.
        """
        cfg, ctx = self.config, self.ctx
        scores = None
        epoch = self.start_epoch
        board = TensorBoardWriter(cfg.tensorboard) if ctx.is_main and cfg.tensorboard is not None else None
        try:
            for epoch in range(self.start_epoch, cfg.epochs + 1):
                if ctx.device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(ctx.device)
                t0 = time.perf_counter()
                stats = self.train_epoch(epoch)
                self._check_finite(epoch, stats["loss"])
                t_eval = time.perf_counter()
                evaluate = cfg.eval_every > 0 and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs)
                if evaluate:
                    scores = ctx.broadcast_object(self.evaluate() if ctx.is_main else None)
                eval_s = time.perf_counter() - t_eval
                record = self._record(epoch, stats, scores if evaluate else None, eval_s=eval_s,
                                      epoch_s=time.perf_counter() - t0)
                record = dataclasses.replace(record, **stats["cache"])
                self.history.append(record.to_dict())
                self._save(epoch)
                if board is not None:
                    board.write(self.history[-1], step=epoch)
                ctx.barrier()
                _log_epoch(record)
                if self.on_epoch is not None and ctx.is_main:
                    self.on_epoch(record)
        except KeyboardInterrupt:
            if ctx.is_main:
                kept = f"checkpoint {cfg.checkpoint} holds epoch {epoch - 1}" if cfg.checkpoint else "no checkpoint"
                logger.warning("interrupted during epoch %d; %s", epoch, kept)
            raise
        finally:
            if board is not None:
                board.close()
        return TrainResult(self.model, [self.metrics_type(**h) for h in self.history], scores, ctx.rank)

    def _record(self, epoch: int, stats: dict, scores: Scores | None, *, eval_s: float, epoch_s: float):
        """The epoch's :attr:`metrics_type` record from :meth:`train_epoch`'s stats and the evaluation."""
        return EpochMetrics(
            epoch=epoch, loss=stats["loss"],
            train_acc=scores.train if scores is not None else None,
            val_acc=scores.val if scores is not None else None,
            test_acc=scores.test if scores is not None else None,
            metric=self.scorer.metric,
            epoch_s=epoch_s, train_s=stats["train_s"],
            sample_s=stats["sample_s"], gather_s=stats["gather_s"], compute_s=stats["compute_s"],
            eval_s=eval_s, batches=stats["batches"],
            seeds_per_s=stats["seeds"] / stats["train_s"] if stats["train_s"] > 0 else 0.0,
            peak_gpu_mib=peak_gpu_mib(self.ctx.device), peak_host_mib=peak_host_mib(),
        )


class TrainingDivergedError(RuntimeError):
    """The loss or the weights became NaN or infinite; the last good checkpoint was kept."""


def _log_epoch(m) -> None:
    acc = f" val {m.metric} {m.val_score:.4f} test {m.test_score:.4f}" if m.val_score is not None else ""
    logger.info("epoch %d: loss %.4f%s, %.2f s (%.0f seeds/s)", m.epoch, m.loss, acc, m.epoch_s, m.seeds_per_s)


def train(config: TrainConfig, *, dataset: NodeDataset | LinkDataset | None = None, on_step: StepCallback | None = None,
          on_epoch: EpochCallback | None = None) -> TrainResult:
    """Train as ``config`` says, in this process (joining a ``torchrun`` group if there is one).

    Args:
        config: the run.
        dataset: an already loaded dataset (default: load ``config.dataset``); a ``LinkDataset``
            for ``config.task = "link"``.
        on_step: called after every optimizer step with ``(epoch, step, model)``.
        on_epoch: called on rank 0 with each epoch's :class:`EpochMetrics` (:class:`LinkEpochMetrics`
            for link prediction).

    Raises:
        ValueError: an unknown dataset, one without features, labels or a training split, or a
            checkpoint from another run.
        RuntimeError: a placement the machine cannot provide.
        KeyboardInterrupt: on Ctrl-C, after the last good checkpoint is secured.
    """
    cuda = torch.cuda.is_available()
    if not cuda and config.needs_gpu:
        check_machine(config, cache_bytes=0, cuda_available=False, free_gpu_bytes=None)
    ctx = setup(use_cuda=config.use_cuda(cuda))
    try:
        kind = Trainer
        if config.task is Task.LINK:
            from graphsys.train.link import LinkTrainer as kind
        trainer = kind(config, ctx=ctx, dataset=dataset, on_step=on_step, on_epoch=on_epoch)
        try:
            return trainer.fit()
        finally:
            trainer.close()
    finally:
        teardown(ctx)
