"""Fine-tuning in the background while the board keeps serving.

One worker thread runs one job at a time: the stored samples (repeated so they weigh in)
are mixed with a sample of the original training data, a copy of the serving model is
trained on them, and both are scored on held-out test data. The new version is swapped in
only if its accuracy did not drop by more than `max_drop`. Jobs and versions live in the
board's database (versions.py): a job's state and progress are there for any client, across
restarts; a stop interrupts the running job, which then reads `interrupted`.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import torch

from digitlab.data.datasets import Split
from digitlab.inference.checkpoint import checkpoint_dataset, load_checkpoint, model_from_checkpoint, save_checkpoint
from digitlab.inference.trained_model import with_inference_options
from digitlab.reading.refusal import THRESHOLD_KEY, Refusal, refusal_of
from digitlab.training.calibration import refusal_threshold
from digitlab.training.config import TrainConfig
from digitlab.training.evaluate import evaluate
from digitlab.training.finetune import fine_tune
from digitlab.training.prepare import with_generated
from digitlab.utils.files import sha256_of
from digitlab.web.samples import SampleStore
from digitlab.web.service import ModelService
from digitlab.web.versions import VersionStore

log = logging.getLogger("digitlab")
PROGRESS_STEP = 0.01  # write progress to the database at most every 1 point (<= 100 small commits a job)


class Stopping(Exception):
    """The server is stopping: the running job ends as `interrupted`."""


class FineTuner:
    def __init__(self, service: ModelService, store: SampleStore, version_store: VersionStore, max_drop: float = 0.005,
                 base_samples: int = 4000, repeats: int = 5, held_out: int = 2000, epochs: int = 2,
                 lr: float = 5e-4):  # the peak of a cosine; 1e-3 forgot twice as much (evidence: docs/board.md)
        self.service, self.store, self.version_store = service, store, version_store
        self.max_drop, self.base_samples, self.repeats = max_drop, base_samples, repeats
        self.held_out, self.epochs, self.lr = held_out, epochs, lr
        self._stopping = threading.Event()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="finetune")

    def start(self) -> int:
        job = self.version_store.new_job()
        self._worker.submit(self._run, job)
        return job

    def status(self, job: int) -> dict | None:
        return self.version_store.job(job)

    def close(self) -> None:
        """Interrupt the running job at its next step and drop the queued ones (both read `interrupted`)."""
        self._stopping.set()
        self._worker.shutdown(wait=True, cancel_futures=True)

    def _run(self, job: int) -> None:
        if self._stopping.is_set():
            return  # left `queued`: the next start marks it interrupted
        self.version_store.update_job(job, state="running")
        try:
            self._fine_tune(job)
        except Stopping:
            self.version_store.update_job(job, state="interrupted",
                                          message="the server stopped before this job finished")
        except Exception as exc:  # a failed job must not kill the worker or the server
            message = f"{type(exc).__name__}: {exc}"
            self.version_store.update_job(job, state="failed", message=message)
            log.warning(f"fine-tune job {job} failed: {message}")

    def _fine_tune(self, job: int) -> None:
        ids, images, labels = self.store.arrays()
        info = self.service.info
        self.version_store.update_job(job, samples=len(labels), parent=info.version)
        if not len(labels):
            self.version_store.update_job(job, state="failed", message="no stored samples to learn from")
            return
        payload = load_checkpoint(info.checkpoint)
        data = checkpoint_dataset(payload)  # with the test split held out from it in training
        generator = torch.Generator().manual_seed(job)
        base = data.train.subset(torch.randperm(len(data.train), generator=generator)[:self.base_samples])
        cfg = TrainConfig.from_dict(payload["config"])
        base = with_generated(data, base, cfg)  # what it trained beside real digits: non-digits, styled digits
        drawn = Split.from_numpy(images, labels)
        mix = Split(torch.cat([base.images, *[drawn.images] * self.repeats]),
                    torch.cat([base.labels, *[drawn.labels] * self.repeats]))
        test = data.test.subset(torch.arange(min(self.held_out, len(data.test))))
        mean, std = payload["normalization"]["mean"], payload["normalization"]["std"]

        model = model_from_checkpoint(payload)
        classes, refusal = payload["classes"], refusal_of(payload)
        before = evaluate(model, test, mean, std, len(classes), refusal=refusal).accuracy
        self.version_store.update_job(job, before=before)
        fine_tune(model, mix, mean, std, cfg, epochs=self.epochs, lr=self.lr, seed=job,
                  progress=self._reporter(job))
        if refusal is not None:  # the new version's own threshold, set on new non-digits as training sets it
            answering = with_inference_options(model, payload["config"])
            refusal = Refusal(refusal.index, refusal_threshold(answering, data, cfg))
        after = evaluate(model, test, mean, std, len(classes), refusal=refusal).accuracy
        if self._stopping.is_set():
            raise Stopping
        if after < before - self.max_drop:
            self.version_store.update_job(job, state="rejected", after=after, progress=1.0,
                                     message=f"held-out accuracy would drop from {before:.2%} to {after:.2%}")
            return
        version = self.version_store.next_version()
        file = f"v{version}.pt"
        save_checkpoint(self.version_store.folder / file,  # complete on disk before the row that names it commits
                        {**payload, "state_dict": model.state_dict(), "test_accuracy": after,
                         THRESHOLD_KEY: refusal.threshold if refusal else None,
                         "finetune": {"parent": info.version, "samples": len(labels), "before": before, "job": job}})
        self.version_store.update_job(job, after=after)
        sha256 = sha256_of(self.version_store.folder / file)  # here, not in publish: it runs under the serving lock
        try:
            self.service.swap(self.version_store.folder / file, version, commit=lambda: self.version_store.publish(
                job, version, file, sha256, parent=info.version, before=before, after=after, samples=ids.tolist()))
        except BaseException:
            (self.version_store.folder / file).unlink(missing_ok=True)  # no row names it: it must not stay
            raise
        log.info(f"fine-tune job {job}: model v{version} serving ({before:.2%} -> {after:.2%})")

    def _reporter(self, job: int):
        """The progress callback: written to the database every PROGRESS_STEP; raises Stopping on a stop."""
        written = [0.0]

        def report(progress: float) -> None:
            if self._stopping.is_set():
                raise Stopping
            if progress - written[0] >= PROGRESS_STEP and progress < 1.0:
                written[0] = progress
                self.version_store.update_job(job, progress=round(progress, 3))

        return report
