import shutil
from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (run on the device machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def offline(monkeypatch):
    """Any attempt by ogb to download a node or link dataset fails the test."""
    import ogb.linkproppred.dataset as link_dataset
    import ogb.nodeproppred.dataset as node_dataset

    def refuse(*args, **kwargs):
        raise AssertionError(f"ogb tried to download: {args}")

    for module in (node_dataset, link_dataset):
        monkeypatch.setattr(module, "download_url", refuse)
        monkeypatch.setattr(module, "decide_download", refuse)


@pytest.fixture
def shared_data(tmp_path):
    """A writable copy of ../shared/data (read-only there); copy only what a test names."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")

    def copy(relative: str) -> Path:
        src = SHARED_DATA / relative
        dst = tmp_path / "data" / relative
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst)
        return dst

    return copy
