"""Fine-tuning in the background while the board keeps serving.

One worker thread runs one job at a time: the stored samples (repeated so they weigh in)
are mixed with a sample of the original training data, a copy of the serving model is
trained on them, and both are scored on held-out test data. The new version is swapped in
only if its accuracy did not drop by more than `max_drop`; every version stays on disk.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from digitlab.data.datasets import Split
from digitlab.data.non_digits import refusal_index
from digitlab.inference.checkpoint import checkpoint_dataset, load_checkpoint, model_from_checkpoint, save_checkpoint
from digitlab.training.config import TrainConfig
from digitlab.training.evaluate import evaluate
from digitlab.training.finetune import fine_tune
from digitlab.training.run import with_non_digits
from digitlab.web.service import ModelService
from digitlab.web.storage import SampleStore

log = logging.getLogger("digitlab")


@dataclass
class Job:
    id: int
    state: str = "queued"          # queued, running, accepted, rejected, failed
    progress: float = 0.0
    samples: int = 0
    before: float | None = None    # held-out accuracy of the serving model
    after: float | None = None     # held-out accuracy of the fine-tuned model
    version: int | None = None     # the version it became, if accepted
    message: str = ""
    created: float = field(default_factory=time.time)


class FineTuner:
    def __init__(self, service: ModelService, store: SampleStore, versions_dir: str | Path, max_drop: float = 0.005,
                 base_samples: int = 4000, repeats: int = 5, held_out: int = 2000, epochs: int = 2):
        self.service, self.store, self.versions_dir = service, store, Path(versions_dir)
        self.max_drop, self.base_samples, self.repeats = max_drop, base_samples, repeats
        self.held_out, self.epochs = held_out, epochs
        self.jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="finetune")

    def start(self) -> Job:
        with self._lock:
            job = Job(next(self._ids))
            self.jobs[job.id] = job
        self._worker.submit(self._run, job)
        return job

    def status(self, job_id: int) -> dict | None:
        job = self.jobs.get(job_id)
        return asdict(job) if job else None

    def _run(self, job: Job) -> None:
        job.state = "running"
        try:
            self._fine_tune(job)
        except Exception as exc:  # a failed job must not kill the worker or the server
            job.state, job.message = "failed", f"{type(exc).__name__}: {exc}"
            log.warning(f"fine-tune job {job.id} failed: {job.message}")

    def _fine_tune(self, job: Job) -> None:
        images, labels = self.store.arrays()
        job.samples = len(labels)
        if not len(labels):
            job.state, job.message = "failed", "no stored samples to learn from"
            return
        info = self.service.info
        payload = load_checkpoint(info.checkpoint)
        data = checkpoint_dataset(payload)  # with the test split held out from it in training
        generator = torch.Generator().manual_seed(job.id)
        base = data.train.subset(torch.randperm(len(data.train), generator=generator)[:self.base_samples])
        if refusal_index(payload["classes"]) is not None:  # keep it able to say "not a digit"
            base = with_non_digits(data, base, TrainConfig.from_dict(payload["config"]))
        drawn = Split.from_numpy(images, labels)
        mix = Split(torch.cat([base.images, *[drawn.images] * self.repeats]),
                    torch.cat([base.labels, *[drawn.labels] * self.repeats]))
        test = data.test.subset(torch.arange(min(self.held_out, len(data.test))))
        mean, std = payload["normalization"]["mean"], payload["normalization"]["std"]

        model = model_from_checkpoint(payload)
        classes = payload["classes"]
        job.before = evaluate(model, test, mean, std, len(classes), refusal=refusal_index(classes)).accuracy
        fine_tune(model, mix, mean, std, epochs=self.epochs, seed=job.id,
                  progress=lambda p: setattr(job, "progress", round(p, 3)))
        job.after = evaluate(model, test, mean, std, len(classes), refusal=refusal_index(classes)).accuracy
        if job.after < job.before - self.max_drop:
            job.state = "rejected"
            job.message = f"held-out accuracy would drop from {job.before:.2%} to {job.after:.2%}"
            return
        version = self.service.next_version()
        path = self.versions_dir / f"v{version}.pt"
        save_checkpoint(path, {**payload, "state_dict": model.state_dict(), "test_accuracy": job.after,
                               "finetune": {"parent": info.version, "samples": job.samples, "before": job.before}})
        self.service.swap(path, version)
        job.state, job.version = "accepted", version
        log.info(f"fine-tune job {job.id}: model v{version} serving ({job.before:.2%} -> {job.after:.2%})")
