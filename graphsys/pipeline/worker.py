"""One rank of pipelined (and/or graph-parallel) full-graph training: stage ``s`` of group ``g``.

The rank computes layers ``config.stage_layers(s)`` for the nodes of partition ``g`` as
*islands*: one (layer, chunk) pair each, whose inputs are detached leaves. Islands run in
chunk-major order in pipelined epochs (chunk ``c`` passes all the stage's layers and goes on to
the next stage while this stage starts chunk ``c+1``) and in layer-major order in staleness-free
epochs. Backward visits islands in reverse, routing each leaf's gradient to where its rows came
from: the chunk below, other chunks' accumulators (only rows that were fresh; history is a
constant), the halo owners, or the previous stage.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import record_function

from graphsys.datasets.base import NodeDataset
from graphsys.pipeline.adjacency import Adjacency
from graphsys.pipeline.comm import Comm
from graphsys.pipeline.config import PipelineConfig
from graphsys.pipeline.history import History, ReadStats
from graphsys.pipeline.layers import (
    DECODER_SALT,
    ENCODER_SALT,
    apply_dropout,
    build_layer,
    build_linear,
    dropout_key,
)
from graphsys.pipeline.partition import Layout, PartitionPlan


def _phase(name: str):
    """Label every call of the decorated method as ``pipeline.<name>`` in ``torch.profiler`` traces.

    Cost: one profiler record per call (about a microsecond when no profiler runs).
    """
    def decorate(method):
        @functools.wraps(method)
        def labelled(*args, **kwargs):
            with record_function(f"pipeline.{name}"):
                return method(*args, **kwargs)
        return labelled
    return decorate


@dataclass
class _Halo:
    """Rows of one layer's input owned by other partitions, and the epoch they were made."""

    values: torch.Tensor
    epoch: int = -1


@dataclass
class _Pass:
    """State of one forward pass: per-layer row stores, halos, island outputs and leaves."""

    stores: dict[int, History]
    halos: dict[int, _Halo]
    outs: dict[tuple[int, int], torch.Tensor] = field(default_factory=dict)
    leaves: dict[tuple[int, int], tuple] = field(default_factory=dict)
    losses: dict[int, torch.Tensor] = field(default_factory=dict)
    logits: dict[int, torch.Tensor] = field(default_factory=dict)


class StageWorker:
    """Stage ``rank % S`` of group ``rank // S``: its layers, optimizer, history and schedule.

    Args:
        config: the run's configuration. data: the dataset (original node ids).
        layout, plan: the renumbering and this rank's partition plan.
        rank: this rank. comm: its communication (``None`` when the world is one process).
        device: compute device. stage_group: process group of the G ranks of this stage.
    """

    def __init__(
        self, config: PipelineConfig, data: NodeDataset, layout: Layout, plan: PartitionPlan,
        rank: int, comm: Comm | None, device: torch.device, stage_group=None,
    ) -> None:
        cfg = self.cfg = config
        self.rank, self.comm, self.device, self.stage_group = rank, comm, device, stage_group
        self.stage, self.group = rank % cfg.stages, rank // cfg.stages
        self.plan = plan
        self.first, self.last = self.stage == 0, self.stage == cfg.stages - 1
        self.layer_ids = cfg.stage_layers(self.stage)
        self.node_ids = layout.order[plan.start : plan.stop].to(device)
        self.modules = nn.ModuleDict()
        if self.first:
            self.modules["encoder"] = build_linear(data.num_features, cfg.hidden, cfg.seed, ENCODER_SALT)
            self.x = data.x[layout.order[plan.start : plan.stop]].to(device, torch.float32)
        self.layers = {layer_id: build_layer(cfg.model, cfg.hidden, cfg.seed, layer_id) for layer_id in self.layer_ids}
        for layer_id, layer in self.layers.items():
            self.modules[f"layer{layer_id}"] = layer
        if self.last:
            self.modules["decoder"] = build_linear(cfg.hidden, data.num_classes, cfg.seed, DECODER_SALT)
            self.y = data.y[layout.order[plan.start : plan.stop]].to(device)
            self.masks = {}
            for split in ("train", "val", "test"):
                mask = torch.zeros(layout.num_nodes, dtype=torch.bool)
                mask[layout.rank_of[getattr(data, f"{split}_idx")]] = True
                self.masks[split] = mask[plan.start : plan.stop].to(device)
        self.totals = {s: getattr(data, f"{s}_idx").numel() for s in ("train", "val", "test")}
        self.modules.to(device)
        self.optimizer = torch.optim.Adam(self.modules.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.adjacency = [
            Adjacency.from_edges(c.edge_row, c.edge_col, c.edge_weight, (c.size, c.num_inputs)).to(device)
            for c in plan.chunks
        ]
        self.self_weight = [c.self_weight.to(device) for c in plan.chunks]
        # Index tensors go to the device once: each pageable host-to-device copy (and each boolean
        # mask index) waits for the GPU's queue to drain, at every chunk of every layer otherwise.
        self._ext_ids = [c.ext_ids.to(device) for c in plan.chunks]
        self._halo_slots = [c.halo_slots.to(device) for c in plan.chunks]
        self._send_ids = {g: ids.to(device) for g, ids in plan.send_ids.items()}
        if self.last:
            self._train_pos = [self.masks["train"][self._rows(c)].nonzero().squeeze(1) for c in range(len(plan.chunks))]
        self.train_pass = self._new_pass(cfg.history)
        self.stats = ReadStats()
        self.loss_sum = 0.0
        self.last_logits: torch.Tensor | None = None

    # ------------------------------------------------------------------ helpers
    @property
    def _inputs(self) -> range:
        """Layer outputs this stage reads across chunks: its input and its inner layers."""
        return range(self.layer_ids.start - 1, self.layer_ids.stop - 1)

    def _new_pass(self, placement: str) -> _Pass:
        width = self.cfg.hidden
        stores = {k: History(self.plan.size, width, self.device, placement) for k in self._inputs}
        halo_rows = self.plan.halo_nodes.numel()
        halos = {k: _Halo(torch.zeros(halo_rows, width, device=self.device)) for k in self._inputs}
        return _Pass(stores, halos)

    def _peer(self, group: int) -> int:
        return group * self.cfg.stages + self.stage

    def _rows(self, c: int) -> slice:
        chunk = self.plan.chunks[c]
        return slice(chunk.start, chunk.stop)

    def named_parameters(self) -> dict[str, nn.Parameter]:
        """Parameters under the names :class:`graphsys.pipeline.model.DeepGNN` gives them."""
        out = {}
        for name, param in self.modules.named_parameters():
            head, _, rest = name.partition(".")
            if head.startswith("layer"):
                head = f"layers.{int(head[5:]) - 1}"
            out[f"{head}.{rest}"] = param
        return out

    # ------------------------------------------------------------------ forward
    def forward(self, epoch: int, train: bool, sync: bool) -> _Pass:
        """Run this rank's part of one forward pass (training or evaluation).

        Cost: every island's layer; sends/receives one chunk of embeddings per chunk at each
        stage boundary and, with G > 1, halo rows per layer (sync) or per epoch (pipelined).
        """
        state = self.train_pass if train else self._new_pass("device")
        kind = "activations" if train else "eval"
        chunks = range(len(self.plan.chunks))
        with torch.set_grad_enabled(train):
            if sync:
                for c in chunks:
                    self._stage_input(state, c, epoch, train, kind)
                for layer_id in self.layer_ids:
                    self._halo_forward(state, layer_id - 1, epoch, "halo" if train else "eval")
                    for c in chunks:
                        self._island(state, layer_id, c, epoch, train)
                for c in chunks:
                    self._emit(state, c, train, kind)
            else:
                for c in chunks:
                    self._stage_input(state, c, epoch, train, kind)
                    for layer_id in self.layer_ids:
                        self._island(state, layer_id, c, epoch, train)
                    self._emit(state, c, train, kind)
                for k in self._inputs:
                    self._halo_forward(state, k, epoch, "halo")
        return state

    @_phase("stage_input")
    def _stage_input(self, state: _Pass, c: int, epoch: int, train: bool, kind: str) -> None:
        rows = self._rows(c)
        k = self.layer_ids.start - 1
        if self.first:
            p = self.cfg.dropout if train else 0.0
            x = apply_dropout(self.x[rows], self.node_ids[rows], p, dropout_key(self.cfg.seed, epoch, 0))
            h = self.modules["encoder"](x)
        else:
            shape = (rows.stop - rows.start, self.cfg.hidden)
            h = self.comm.recv(shape, self.rank - 1, kind, torch.float32, self.device)
        state.stores[k].write(rows.start, h, epoch)
        state.outs[(k, c)] = h

    @_phase("layer_forward")
    def _island(self, state: _Pass, layer_id: int, c: int, epoch: int, train: bool) -> None:
        chunk = self.plan.chunks[c]
        own = state.outs[(layer_id - 1, c)].detach().requires_grad_(train)
        ext, ext_fresh, stale, age, unwritten = state.stores[layer_id - 1].read(self._ext_ids[c], epoch)
        ext.requires_grad_(train)
        halo = state.halos[layer_id - 1]
        halo_rows = halo.values.index_select(0, self._halo_slots[c])
        halo_fresh = halo.epoch == epoch
        if not halo_fresh and chunk.halo_slots.numel():
            stale = stale + chunk.halo_slots.numel()
            age = age.clamp(min=epoch - halo.epoch)
        halo_rows.requires_grad_(train and halo_fresh)
        inputs = torch.cat([own, ext, halo_rows])
        p = self.cfg.dropout if train else 0.0
        out = self.layers[layer_id](
            inputs, self.adjacency[c], self.self_weight[c], self.node_ids[chunk.start : chunk.stop], p,
            dropout_key(self.cfg.seed, epoch, layer_id),
        )
        if layer_id in state.stores:
            state.stores[layer_id].write(chunk.start, out, epoch)
        state.outs[(layer_id, c)] = out
        if train:
            state.leaves[(layer_id, c)] = (own, ext, ext_fresh, halo_rows, halo_fresh)
            self.stats.add(inputs.shape[0], stale, age, unwritten)
        else:
            del state.outs[(layer_id - 1, c)]

    @_phase("emit")
    def _emit(self, state: _Pass, c: int, train: bool, kind: str) -> None:
        top = self.layer_ids.stop - 1
        out = state.outs[(top, c)]
        if not self.last:
            self.comm.send(out, self.rank + 1, kind)
            if not train:
                del state.outs[(top, c)]
            return
        rows = self._rows(c)
        logits = self.modules["decoder"](out)
        state.logits[c] = logits.detach()
        if train:
            pos = self._train_pos[c]
            loss = F.cross_entropy(logits.index_select(0, pos), self.y[rows].index_select(0, pos),
                                   reduction="sum") / max(self.totals["train"], 1)
            state.losses[c] = loss
            self.loss_sum = self.loss_sum + loss.detach()  # read once per epoch: no host sync per chunk

    @_phase("halo_exchange")
    def _halo_forward(self, state: _Pass, k: int, epoch: int, kind: str) -> None:
        """Fill the halo of layer output ``k`` from its owners (no-op with one group)."""
        if self.cfg.graph_parallel == 1:
            return
        halo = state.halos[k]
        values = state.stores[k].values
        sends = {self._peer(g): values[ids.to(values.device)].to(self.device) for g, ids in self._send_ids.items()}
        recvs = {
            self._peer(g): torch.empty(hi - lo, self.cfg.hidden, device=self.device)
            for g, (lo, hi) in self.plan.recv_ranges.items()
        }
        self.comm.exchange(sends, recvs, kind)
        for g, (lo, hi) in self.plan.recv_ranges.items():
            halo.values[lo:hi] = recvs[self._peer(g)]
        halo.epoch = epoch

    # ------------------------------------------------------------------ backward
    def backward(self, state: _Pass, sync: bool) -> None:
        """Backpropagate one training pass through this rank's islands, in reverse order.

        Cost: every island's backward; sends one chunk of gradients per chunk to the previous
        stage and, with G > 1 in staleness-free epochs, halo gradients per layer.
        """
        width, size = self.cfg.hidden, self.plan.size
        top = self.layer_ids.stop - 1
        accs = {k: torch.zeros(size, width, device=self.device) for k in range(self.layer_ids.start - 1, top + 1)}
        halo_grads = {k: torch.zeros_like(state.halos[k].values) for k in self._inputs}
        chunks = range(len(self.plan.chunks) - 1, -1, -1)
        if sync:
            if not self.last:
                for c in chunks:
                    self._recv_grad(accs[top], c)
            for layer_id in reversed(self.layer_ids):
                for c in chunks:
                    self._island_backward(state, layer_id, c, accs, halo_grads)
                self._halo_backward(layer_id - 1, halo_grads, accs)
            for c in chunks:
                self._input_backward(state, c, accs)
        else:
            for c in chunks:
                if not self.last:
                    self._recv_grad(accs[top], c)
                for layer_id in reversed(self.layer_ids):
                    self._island_backward(state, layer_id, c, accs, halo_grads)
                self._input_backward(state, c, accs)
        state.outs.clear()
        state.leaves.clear()
        state.losses.clear()

    @_phase("recv_grad")
    def _recv_grad(self, acc: torch.Tensor, c: int) -> None:
        rows = self._rows(c)
        acc[rows] = self.comm.recv((rows.stop - rows.start, self.cfg.hidden), self.rank + 1, "gradients",
                                   torch.float32, self.device)

    @_phase("layer_backward")
    def _island_backward(self, state: _Pass, layer_id: int, c: int, accs: dict, halo_grads: dict) -> None:
        rows = self._rows(c)
        if self.last and layer_id == self.layer_ids.stop - 1:
            torch.autograd.backward(state.losses[c])
        else:
            torch.autograd.backward(state.outs[(layer_id, c)], accs[layer_id][rows])
        own, ext, ext_fresh, halo_rows, halo_fresh = state.leaves.pop((layer_id, c))
        del state.outs[(layer_id, c)]
        accs[layer_id - 1][rows] += own.grad
        if ext.shape[0]:  # stale rows' gradients stop here: added as zeros, with no mask index (a sync)
            accs[layer_id - 1].index_add_(0, self._ext_ids[c], torch.where(ext_fresh.unsqueeze(1), ext.grad, 0.0))
        if halo_fresh and halo_rows.shape[0]:
            halo_grads[layer_id - 1].index_add_(0, self._halo_slots[c], halo_rows.grad)

    @_phase("halo_exchange")
    def _halo_backward(self, k: int, halo_grads: dict, accs: dict) -> None:
        """Return halo gradients of layer output ``k`` to their owners and add theirs to ``accs[k]``."""
        if self.cfg.graph_parallel == 1:
            return
        sends = {self._peer(g): halo_grads[k][lo:hi] for g, (lo, hi) in self.plan.recv_ranges.items()}
        recvs = {
            self._peer(g): torch.empty(ids.numel(), self.cfg.hidden, device=self.device)
            for g, ids in self.plan.send_ids.items()
        }
        self.comm.exchange(sends, recvs, "halo")
        for g, ids in self._send_ids.items():
            accs[k].index_add_(0, ids, recvs[self._peer(g)])

    @_phase("input_backward")
    def _input_backward(self, state: _Pass, c: int, accs: dict) -> None:
        rows = self._rows(c)
        k = self.layer_ids.start - 1
        if self.first:
            torch.autograd.backward(state.outs.pop((k, c)), accs[k][rows])
        else:
            state.outs.pop((k, c), None)
            self.comm.send(accs[k][rows], self.rank - 1, "gradients")

    def close(self) -> None:
        """Release the histories' host-memory registrations."""
        for store in self.train_pass.stores.values():
            store.close()

    # ------------------------------------------------------------------ one epoch
    def train_epoch(self, epoch: int) -> None:
        """Forward, backward, weight-gradient all-reduce among groups, Adam step."""
        sync = self.cfg.is_sync_epoch(epoch)
        self.optimizer.zero_grad(set_to_none=False)
        self.loss_sum = 0.0
        state = self.forward(epoch, train=True, sync=sync)
        if self.last:
            self.last_logits = torch.cat([state.logits[c] for c in sorted(state.logits)])
            state.logits.clear()
        self.backward(state, sync)
        if self.comm is not None:
            self.comm.flush()
            if self.cfg.graph_parallel > 1:
                params = list(self.modules.parameters())
                flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in params])
                self.comm.all_reduce_(flat, self.stage_group, self.cfg.graph_parallel, "param_grads")
                offset = 0
                for p in params:
                    p.grad = flat[offset : offset + p.numel()].view_as(p).clone()
                    offset += p.numel()
        self.optimizer.step()

    def evaluate(self, epoch: int) -> tuple[int, int, int]:
        """Correct predictions (train, val, test) of a staleness-free, dropout-free pass; zeros off the last stage."""
        self.modules.eval()
        try:
            state = self.forward(epoch, train=False, sync=True)
            if self.comm is not None:
                self.comm.flush()
        finally:
            self.modules.train()
        if not self.last:
            return 0, 0, 0
        pred = torch.cat([state.logits[c] for c in sorted(state.logits)]).argmax(dim=1)
        hits = pred == self.y
        return tuple(int((hits & self.masks[s]).sum()) for s in ("train", "val", "test"))

