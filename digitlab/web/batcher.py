"""One thread makes every model call: drawings that arrive together share one call.

Eight clients calling the model from eight request threads make eight small calls that
fight over two cores and the interpreter lock. Queued for one worker, they become one call
of eight images, which costs little more than a call of one; a drawing that arrives alone
goes straight through (no waiting for company).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import numpy as np


class MicroBatcher:
    """`submit(item)` from any thread returns `run(stacked items)[i]` for that item."""

    def __init__(self, run: Callable[[np.ndarray], Sequence], max_batch: int = 64, name: str = "model-calls"):
        self.run, self.max_batch, self.name = run, max_batch, name
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._start_lock = threading.Lock()
        self._worker: threading.Thread | None = None

    def submit(self, item: np.ndarray):
        if self._worker is None:
            self._start()
        future: Future = Future()
        self._queue.put((item, future))
        return future.result()

    def _start(self) -> None:
        with self._start_lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._serve, name=self.name, daemon=True)
                self._worker.start()

    def _serve(self) -> None:
        while True:
            batch = [self._queue.get()]  # wait for the first one, then take whatever else is already waiting
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            items, futures = zip(*batch)
            try:
                results = self.run(np.stack(items))
                if len(results) != len(futures):  # a caller left waiting forever would hang its request
                    raise RuntimeError(f"{self.name}: {len(results)} answers for {len(futures)} inputs")
            except Exception as exc:  # every caller of this call gets the error, the worker goes on
                for future in futures:
                    future.set_exception(exc)
                continue
            for future, result in zip(futures, results):
                future.set_result(result)
