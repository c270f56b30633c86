"""`digitlab report`: every figure for one checkpoint, as PNG files and an index.html.

Figures are computed from the checkpoint, its run folder's metrics.jsonl and its test
split; numbers that a script may want (accuracy, robustness) go to report.json too.
"""

from __future__ import annotations

import html
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from digitlab.analysis import plots
from digitlab.analysis.robustness import RobustnessStudy, run_study, shifted
from digitlab.inference.checkpoint import checkpoint_test_split
from digitlab.inference.inspector import Inspector
from digitlab.inference.trained_model import load_trained
from digitlab.reading.refusal import refusal_of
from digitlab.training.evaluate import evaluate
from digitlab.training.metrics import METRICS_NAME, read_metrics
from digitlab.utils.files import atomic_write

log = logging.getLogger("digitlab")


def save_figure(fig: Figure, path: Path) -> None:
    import matplotlib.pyplot as plt
    with atomic_write(path) as handle:
        fig.savefig(handle, format="png", dpi=90)
    plt.close(fig)


def _tsne(features: np.ndarray, seed: int = 0) -> np.ndarray:
    from sklearn.manifold import TSNE
    perplexity = float(min(30, max(2, len(features) // 4)))
    return TSNE(n_components=2, init="pca", learning_rate="auto", perplexity=perplexity,
                random_state=seed).fit_transform(features.astype(np.float32))


@dataclass
class Figures:
    """The report's figures as they are saved: PNG files in `out_dir`, and (file, title, caption) for the page."""
    out_dir: Path
    start: float = field(default_factory=time.perf_counter)
    sections: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, name: str, fig: Figure, title: str, caption: str) -> None:
        save_figure(fig, self.out_dir / name)
        self.sections.append((name, title, caption))
        log.info(f"report: {name} ({time.perf_counter() - self.start:.1f}s)")


def build_report(checkpoint: str | Path, out_dir: str | Path, dataset: str | None = None,
                 data_dir: str | None = None, indices: list[int] | None = None, tsne_count: int = 1000,
                 saliency_count: int = 8, device: str = "cpu", picture_digits: int = 300) -> dict:
    """Write the figures and index.html into `out_dir`; return the report's numbers."""
    figures = Figures(Path(out_dir))
    figures.out_dir.mkdir(parents=True, exist_ok=True)
    model, payload = load_trained(checkpoint, device)
    classes, norm = list(payload["classes"]), payload["normalization"]
    mean, std = norm["mean"], norm["std"]
    split, source = checkpoint_test_split(payload, dataset, data_dir)
    indices = [i for i in (indices or [0, 1]) if 0 <= i < len(split)] or [0]
    inspector = Inspector.for_model(model, mean, std)
    images, labels = split.images, split.labels

    _training_curves(figures, checkpoint, payload)
    evaluation = evaluate(model, split, mean, std, len(classes), refusal=refusal_of(payload))
    figures.add("confusion.png", plots.plot_confusion(evaluation.confusion, classes), "Confusion matrix",
                f"Rows are the true class, columns the prediction, over all {len(split)} images of the {source}.")
    figures.add("misclassified.png", plots.plot_misclassified(images.numpy(), labels.numpy(),
                                                              evaluation.probabilities, classes),
                "Most confident mistakes", "The test images the model got wrong with the highest confidence.")
    has_convs = bool(inspector.kernels())
    if has_convs:
        _kernels_and_maps(figures, inspector, images, labels, classes, indices)
    count = min(tsne_count, len(split))
    embedding = _tsne(inspector.penultimate(images[:count]))
    figures.add("tsne.png", plots.plot_tsne(embedding, labels[:count].numpy(), classes),
                "t-SNE of the last hidden layer",
                f"The {count} first test images placed by t-SNE from the features the final linear layer sees: "
                "well-separated clusters mean the classes are linearly separable there.")
    if has_convs:
        picks = torch.arange(min(saliency_count, len(split)))
        _saliency(figures, inspector, images[picks], labels[picks], evaluation.probabilities[picks], classes)

    study = run_study(model, split, mean, std, len(classes), RobustnessStudy(picture_digits=picture_digits),
                      refusal_of(payload))
    figures.add("robustness.png", plots.plot_robustness(study), "Robustness",
                "Test accuracy when every image is shifted (4 directions), rotated (alternately clockwise and "
                "anticlockwise), noised or blurred; for digit models, also when test digits are redrawn as pictures "
                "with another pen, scanned small or lit from one side, and read as 'digitlab predict' reads files.")
    if has_convs:
        _maps_under_a_shift(figures, inspector, images, indices[0])

    numbers = {"checkpoint": str(checkpoint), "data": source, "accuracy": evaluation.accuracy,
               "figures": [s[0] for s in figures.sections], "robustness": study,
               "seconds": round(time.perf_counter() - figures.start, 2)}
    with atomic_write(figures.out_dir / "report.json", "w") as handle:
        json.dump(numbers, handle, indent=1)
    _write_html(figures.out_dir / "index.html", payload, source, evaluation.accuracy, figures.sections, study)
    return numbers


def _training_curves(figures: Figures, checkpoint: str | Path, payload: dict) -> None:
    """From the run folder's metrics (or the checkpoint's epoch history, when the folder has none)."""
    run_dir = Path(checkpoint) if Path(checkpoint).is_dir() else Path(checkpoint).parent
    metrics = run_dir / METRICS_NAME
    records = read_metrics(metrics) if metrics.exists() else list(payload.get("history", []))
    if records:
        figures.add("curves.png", plots.plot_curves(records), "Training curves",
                    "Loss and error rate per epoch for the training and validation splits (log scale); "
                    "the faint line is the training loss every few steps.")


def _kernels_and_maps(figures: Figures, inspector: Inspector, images: torch.Tensor, labels: torch.Tensor,
                      classes: list[str], indices: list[int]) -> None:
    figures.add("kernels.png", plots.plot_kernels(inspector.kernels()), "Kernels",
                "Every kernel of the first convolution layer (averaged over input channels) and a sample of "
                "second-layer kernels; red is positive, blue negative.")
    for i in indices:
        maps = [(name, m[0]) for name, m in inspector.feature_maps(images[i:i + 1])]
        figures.add(f"feature_maps_{i}.png", plots.plot_feature_maps(
                    images[i].numpy(), maps,
                    title=f"test image #{i} (class {classes[labels[i]]}): activations after each conv layer"),
                    f"Feature maps of test image #{i}", "What each convolution layer responds to, layer by layer.")


def _saliency(figures: Figures, inspector: Inspector, images: torch.Tensor, labels: torch.Tensor,
              probabilities: np.ndarray, classes: list[str]) -> None:
    saliency, cam = inspector.saliency_and_gradcam(images, labels)
    titles = [f"{classes[label]} -> {classes[p.argmax()]}" for label, p in zip(labels.tolist(), probabilities)]
    figures.add("saliency.png", plots.plot_saliency(images.numpy(), saliency, cam, titles),
                "Saliency and Grad-CAM", "Middle row: how much each pixel moves the true class's score (gradient "
                "magnitude). Bottom: Grad-CAM at the last conv layer, the regions that support that class.")


def _maps_under_a_shift(figures: Figures, inspector: Inspector, images: torch.Tensor, i: int, pixels: int = 4) -> None:
    moved = shifted(images[i:i + 1], pixels, "right")
    before, after = inspector.feature_maps(images[i:i + 1])[0][1][0], inspector.feature_maps(moved)[0][1][0]
    figures.add("shift_feature_maps.png", plots.plot_shift_feature_maps(images[i].numpy(), moved[0].numpy(),
                before, after, pixels), "Feature maps under a shift",
                f"Test image #{i} and the same digit moved {pixels} pixels right: convolution maps move with it "
                "(equivariance); only pooling and the dense layers have to absorb the move.")


def _write_html(path: Path, payload: dict, source: str, accuracy: float, sections, study: dict) -> None:
    model = payload["model"]["name"]
    esc = html.escape
    cards = "\n".join(
        f'<section><h2>{esc(title)}</h2><img src="{esc(name)}" alt="{esc(title)}"><p>{esc(caption)}</p></section>'
        for name, title, caption in sections)
    directions = ("right", "left", "down", "up")
    shift_rows = "".join(f"<tr><td>{p}</td>" + "".join(f"<td>{study['shift'][d][k]:.2%}</td>" for d in directions)
                         + "</tr>" for k, p in enumerate(study["shift"]["pixels"]))
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>digitlab report: {esc(model)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }}
img {{ max-width: 100%; border: 1px solid #ddd; }}
section {{ margin: 2em 0; }} table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 2px 8px; }}
</style></head><body>
<h1>digitlab report: {esc(model)}</h1>
<p>Accuracy <b>{accuracy:.2%}</b> on the {esc(source)}; trained on {esc(str(payload.get('dataset', '?')))}
for {len(payload.get('history', []))} epochs.</p>
{cards}
<section><h2>Accuracy under shifts</h2>
<table><tr><th>pixels</th><th>right</th><th>left</th><th>down</th><th>up</th></tr>
{shift_rows}</table></section>
</body></html>
"""
    with atomic_write(path, "w") as handle:
        handle.write(page)
