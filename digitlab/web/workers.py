"""Predictions in worker processes, so that every core answers drawings.

Decoding a drawing and calling the model hold Python's interpreter lock for most of their
time, so one server process cannot fill two cores however many threads it runs. A worker
process has its own interpreter and its own copy of the model: two workers answer about
twice as many drawings, with shorter waits (benchmarks/load.py; docs/board.md).

The server process keeps what must exist once: the model versions, the fine-tuning, the
SQLite store. A task names the checkpoint and version serving when it was queued; a worker
starts with the model serving then, and loads another the first time a task names it, so a
swap or a rollback needs no message to the workers. Drawings that wait while every worker is
busy go to the next free worker together, as one model call (what web/batcher.py does inside
one process).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import threading
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import numpy as np

from digitlab.errors import ConfigError, ImageError

log = logging.getLogger(__name__)
READY = "ready"
START_SECONDS = 120  # a worker imports torch and loads the model before it is ready


class PredictionFailed(Exception):
    """The server could not answer (a worker stopped or could not load the model): a 503, not the user's fault."""


def serve_tasks(conn: Connection, tta: bool | None, checkpoint: str, version: int) -> None:
    """A worker process: load the serving model, then answer batches of drawings until the server closes the pipe."""
    import torch

    from digitlab.inference.predictor import Predictor
    from digitlab.reading.framing import preprocess_image
    from digitlab.web.protocol import answer

    torch.set_num_threads(1)  # one core per worker: the workers together fill the machine
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the server stops us
    try:
        predictor, loaded = Predictor.from_checkpoint(checkpoint, tta=tta), (checkpoint, version)
    except Exception as exc:  # told to the server, which gives up starting (or replacing) this worker
        conn.send(f"cannot load {checkpoint}: {type(exc).__name__}: {exc}")
        return
    conn.send(READY)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):  # the server has gone
            return
        if task is None:  # the server is closing
            return
        checkpoint, version, images = task
        replies: list[tuple[str, object]] = [("", None)] * len(images)
        inputs = {}
        for i, image in enumerate(images):
            try:
                inputs[i] = preprocess_image(image)
            except ImageError as exc:
                replies[i] = ("bad-image", str(exc))
        if inputs:
            try:
                if loaded != (checkpoint, version):
                    predictor, loaded = Predictor.from_checkpoint(checkpoint, tta=tta), (checkpoint, version)
                predictions = predictor.predict_arrays(np.stack(list(inputs.values())))
                for (i, input28), prediction in zip(inputs.items(), predictions):
                    replies[i] = ("ok", answer(prediction, input28, version))
            except Exception as exc:  # reported to the callers of this batch; the worker goes on
                for i in inputs:
                    replies[i] = ("failed", f"{type(exc).__name__}: {exc}")
        conn.send(replies)


@dataclass
class Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    ready: bool = False
    batch: list[asyncio.Future] = field(default_factory=list)  # the callers of the batch it is working on

    @property
    def free(self) -> bool:
        return self.ready and not self.batch


class PredictWorkers:
    """`await predict(image, checkpoint, version)` from the server's event loop -> the answer, as JSON.

    The event loop sends; a thread per worker waits for its replies and hands them to the loop.
    (The loop cannot watch the pipes itself: uvloop's add_reader makes them non-blocking, and
    a reply read before the worker has finished writing it then fails halfway.)
    """

    def __init__(self, count: int, checkpoint: str, version: int, tta: bool | None = None, max_batch: int = 64):
        # spawn, not fork: a fresh interpreter inherits no OpenMP threads or held locks from the server
        self._context = multiprocessing.get_context("spawn")
        self.tta, self.max_batch = tta, max_batch
        self.model = (checkpoint, version)  # the last one asked for: what a replacement worker loads
        self._queue: deque[tuple[bytes, str, int, asyncio.Future]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self.workers = [self._spawn() for _ in range(count)]
        for worker in self.workers:  # started together, waited for in turn
            try:
                message = worker.conn.recv() if worker.conn.poll(START_SECONDS) else f"not ready in {START_SECONDS} s"
            except EOFError:
                message = "it stopped while starting"
            if message != READY:
                self.close()
                raise ConfigError(f"a prediction worker did not start: {message}")
            worker.ready = True

    def _spawn(self) -> Worker:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(target=serve_tasks, args=(theirs, self.tta, *self.model),
                                        name="digitlab-predict", daemon=True)
        process.start()
        theirs.close()
        worker = Worker(process, ours)
        if self._loop is not None:
            self._listen(worker)
        return worker

    def _listen(self, worker: Worker) -> None:
        def listen() -> None:
            while True:
                try:
                    message = worker.conn.recv()
                except (EOFError, OSError):  # the worker stopped, or close() closed the pipe
                    message = None
                try:
                    self._loop.call_soon_threadsafe(self._receive, worker, message)
                except RuntimeError:  # the event loop has closed: the server is shutting down
                    return
                if message is None:
                    return

        threading.Thread(target=listen, name=f"digitlab-predict-{worker.process.pid}", daemon=True).start()

    async def predict(self, image: bytes, checkpoint: str, version: int) -> bytes:
        if not self.workers:
            raise PredictionFailed("no prediction worker is running")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
            for worker in self.workers:
                self._listen(worker)
        elif loop is not self._loop:
            raise RuntimeError("prediction workers answer one event loop, the one that used them first")
        future = loop.create_future()
        self._queue.append((image, checkpoint, version, future))
        self._dispatch()
        return await future

    def _dispatch(self) -> None:
        """Give every free worker the drawings at the head of the queue that are for the same model version."""
        for worker in list(self.workers):  # a worker found dead is replaced in the list
            if not self._queue:
                return
            if not worker.free:
                continue
            model = self.model = self._queue[0][1:3]
            tasks = []
            while self._queue and len(tasks) < self.max_batch and self._queue[0][1:3] == model:
                tasks.append(self._queue.popleft())
            worker.batch = [future for *_, future in tasks]
            try:
                worker.conn.send((*model, [image for image, *_ in tasks]))
            except OSError:  # it died while idle: the drawings wait for the next free worker
                self._queue.extendleft(reversed(tasks))
                worker.batch = []
                self._replace(worker)

    def _receive(self, worker: Worker, message) -> None:
        """In the event loop: a worker's reply (None: it stopped)."""
        if self._closing or worker not in self.workers:  # shutting down, or already replaced
            return
        if message is None:
            self._replace(worker)
        elif message == READY:  # a replacement worker has started
            worker.ready = True
        elif not worker.ready:  # a replacement that cannot load the model: answer with the workers left
            log.error(f"prediction worker {worker.process.pid} could not start: {message}")
            self._remove(worker)
            if not self.workers:
                self._fail([future for *_, future in self._queue], "no prediction worker is running")
                self._queue.clear()
        else:
            for future, (status, value) in zip(worker.batch, message):
                if future.done():  # its request was cancelled (the client went away)
                    continue
                if status == "ok":
                    future.set_result(value)
                else:
                    future.set_exception(ImageError(value) if status == "bad-image" else PredictionFailed(value))
            worker.batch = []
        self._dispatch()

    def _replace(self, dead: Worker) -> None:
        """A worker that stopped: its callers get a 503, and a new worker takes its place."""
        self._fail(dead.batch, "the prediction worker stopped; try again")
        index = self.workers.index(dead)
        self._remove(dead)
        log.warning(f"prediction worker {dead.process.pid} stopped (exit code {dead.process.exitcode}); "
                    "starting another")
        self.workers.insert(index, self._spawn())

    def _remove(self, worker: Worker) -> None:
        self.workers.remove(worker)
        worker.conn.close()
        worker.process.join(timeout=1)

    @staticmethod
    def _fail(futures: list[asyncio.Future], message: str) -> None:
        for future in futures:
            if not future.done():
                future.set_exception(PredictionFailed(message))

    def close(self) -> None:
        """Stop the workers (their listeners then read end-of-file and return)."""
        self._closing = True
        for worker in self.workers:
            try:
                worker.conn.send(None)
            except OSError:  # already gone
                pass
        for worker in self.workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
