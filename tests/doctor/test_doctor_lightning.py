"""The doctor on logs made by the real Lightning callback: batch ids ``[epoch, index]``,
and Lightning's own ``skip_batches.json`` (``SpikeDetection``: within-epoch indices)."""

from __future__ import annotations

import json

import pytest

pl = pytest.importorskip("lightning.pytorch")
torch = pytest.importorskip("torch")

from gradguard.cli import main  # noqa: E402
from gradguard.doctor import diagnose, sentence  # noqa: E402
from gradguard.records import read_log  # noqa: E402

BAD_INDEX = 5  # the batch holding a corrupt label, every epoch (the loader does not shuffle)


def _loader():
    torch.manual_seed(0)
    x = torch.randn(8 * 16, 10)
    y = x.sum(1, keepdim=True).tanh()
    y[BAD_INDEX * 16 + 3] = 3e3
    data = torch.utils.data.TensorDataset(x, y)
    return torch.utils.data.DataLoader(data, batch_size=16, shuffle=False)


class _Net(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(10, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1)
        )

    def training_step(self, batch, batch_idx):
        x, y = batch
        return (self.net(x) - y).square().mean()

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


def _trainer(out, epochs, callback):
    return pl.Trainer(max_epochs=epochs, callbacks=[callback], logger=False,
                      enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, default_root_dir=out)  # fmt: skip


@pytest.fixture(scope="module")
def lightning_run(tmp_path_factory):
    from lightning.pytorch.callbacks.spike import SpikeDetection

    from gradguard.integrations.lightning import SpikeGuardCallback

    out = tmp_path_factory.mktemp("lightning")
    log = out / "lightning.jsonl"
    _trainer(out, 5, SpikeGuardCallback(clipper=1.0, log=str(log))).fit(_Net(), _loader())
    # Lightning's own detector on the same data writes its skip_batches.json, then stops.
    detector = SpikeDetection(warmup=3, exclude_batches_path=str(out))
    with pytest.raises(Exception, match="spike"):
        _trainer(out, 3, detector).fit(_Net(), _loader())
    return log, out / "skip_batches.json"


def test_an_index_bad_in_every_epoch_is_not_called_hardware(lightning_run, capsys):
    log, _ = lightning_run
    (run,) = read_log(log).runs
    d = diagnose(run)
    bad = [r for r in run.steps if r.action != "step"]
    assert {r.extra["batch"][1] for r in bad} == {BAD_INDEX}  # [epoch, index] ids
    assert len({r.extra["batch"][0] for r in bad}) >= 2
    assert d.cause == "recurring_index"
    (recurs,) = [f for f in d.findings if f.key == "index_recurs"]
    assert recurs.evidence["index"] == BAD_INDEX
    assert recurs.evidence["steps"] == [r.step for r in bad]
    assert "batches_differ" not in d.messages() and "check_shuffle" in d.messages()
    for lang in ("en", "bn"):
        assert main(["doctor", str(log), "--lang", lang]) == 0
        out = capsys.readouterr().out
        assert sentence(recurs, lang) in out
        if lang == "en":
            assert "hardware" not in out and "shuffled" in out and "cannot tell" in out


def test_lightnings_skip_list_matches_the_index_in_every_epoch(lightning_run, capsys):
    log, skip = lightning_run
    listed = json.loads(skip.read_text())
    assert BAD_INDEX in listed and all(isinstance(b, int) for b in listed)  # as Lightning writes
    (run,) = read_log(log).runs
    from gradguard.doctor._skipfile import read_skip_file

    d = diagnose(run, read_skip_file(skip))
    bad = [r.step for r in run.steps if r.action != "step"]
    (found,) = [f for f in d.findings if f.key == "skip_file"]
    assert found.evidence["by_batch"] == bad
    (by_index,) = [f for f in d.findings if f.key == "skip_file_index"]
    assert by_index.evidence["steps"] == bad
    assert main(["doctor", str(log), "--skip", str(skip)]) == 0
    assert "matched in every epoch" in capsys.readouterr().out
