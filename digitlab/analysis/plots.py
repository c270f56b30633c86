"""Every figure of the report, as a function returning a matplotlib Figure (usable in a notebook).

Figures are made with the object-oriented API on the Agg backend: no screen needed.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def _grid(n: int, columns: int) -> tuple[int, int]:
    return max(1, math.ceil(n / columns)), min(n, columns) or 1


def _show(ax, image: np.ndarray, title: str | None = None, cmap: str = "gray", **kwargs) -> None:
    ax.imshow(image, cmap=cmap, **kwargs)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def _digit(image: np.ndarray) -> np.ndarray:
    """(C, H, W) -> something imshow can draw: grey (H, W) or RGB (H, W, 3); clips: the middle frame."""
    if image.shape[0] == 3:
        return image.transpose(1, 2, 0)
    return image[image.shape[0] // 2] if image.shape[0] > 1 else image[0]


def plot_curves(records: list[dict]) -> Figure:
    """Loss and error rate per epoch, train vs validation, with the per-step training loss behind."""
    epochs = [r for r in records if r.get("type") == "epoch"]
    steps = [r for r in records if r.get("type") == "step"]
    fig, (loss_ax, err_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    if steps:
        per_epoch = max(r["step"] for r in epochs) / len(epochs) if epochs else 1
        x = [r["step"] / per_epoch for r in steps]
        loss_ax.plot(x, [r["loss"] for r in steps], color="tab:blue", alpha=0.25, lw=1, label="train (steps)")
        err_ax.plot(x, [r["error"] for r in steps], color="tab:blue", alpha=0.25, lw=1, label="train (steps)")
    e = [r["epoch"] for r in epochs]
    for key, ax in (("loss", loss_ax), ("error", err_ax)):
        ax.plot(e, [r[f"train_{key}"] for r in epochs], "o-", color="tab:blue", label="train")
        val = [r[f"val_{key}"] for r in epochs]
        if any(v is not None for v in val):
            ax.plot(e, val, "s-", color="tab:orange", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title("loss" if key == "loss" else "error rate")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    loss_ax.set_yscale("log")
    err_ax.set_yscale("log")
    fig.tight_layout()
    return fig


def plot_confusion(confusion: np.ndarray, classes: list[str]) -> Figure:
    """Counts of (true class, predicted class); the diagonal is what the model got right."""
    k = len(classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * k, 0.8 + 0.5 * k))
    shown = np.log1p(confusion)
    ax.imshow(shown, cmap="Blues")
    for (i, j), count in np.ndenumerate(confusion):
        if count:
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                    color="white" if shown[i, j] > shown.max() * 0.6 else "black")
    ax.set_xticks(range(k), classes, rotation=45 if max(map(len, classes)) > 2 else 0, fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(confusion) / confusion.sum()
    ax.set_title(f"confusion matrix ({int(confusion.sum())} images, accuracy {accuracy:.2%})")
    fig.tight_layout()
    return fig


def plot_misclassified(images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, classes: list[str],
                       count: int = 24) -> Figure:
    """The wrong answers the model was surest of, most confident first."""
    predicted = probabilities.argmax(1)
    wrong = np.flatnonzero(predicted != labels)
    wrong = wrong[np.argsort(-probabilities[wrong, predicted[wrong]])][:count]
    rows, cols = _grid(max(len(wrong), 1), 8)
    fig, axes = plt.subplots(rows, cols, figsize=(1.4 * cols, 1.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong):
        ax.axis("on")
        _show(ax, _digit(images[i]),
              f"true {classes[labels[i]]}\nsaid {classes[predicted[i]]} {probabilities[i, predicted[i]]:.0%}")
    fig.suptitle(f"most confident mistakes ({len(np.flatnonzero(predicted != labels))} in all)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_kernels(kernels: list[np.ndarray], second_layer_sample: int = 32) -> Figure:
    """Every first-layer kernel, and a sample of second-layer kernels (one input channel each)."""
    first = kernels[0]
    panels = [(f"conv1 #{f}", first[f].mean(0)) for f in range(len(first))]
    if len(kernels) > 1:
        second = kernels[1]
        rng = np.random.default_rng(0)
        picks = [(f, c) for f in range(second.shape[0]) for c in range(second.shape[1])]
        chosen = sorted(rng.choice(len(picks), min(second_layer_sample, len(picks)), replace=False))
        for f, c in [picks[i] for i in chosen]:
            panels.append((f"conv2 #{f}<-{c}", second[f, c]))
    rows, cols = _grid(len(panels), 12)
    fig, axes = plt.subplots(rows, cols, figsize=(1.05 * cols, 1.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, kernel) in zip(axes.flat, panels):
        ax.axis("on")
        limit = np.abs(kernel).max() or 1
        _show(ax, kernel, name, cmap="RdBu_r", vmin=-limit, vmax=limit)
    fig.suptitle(f"kernels: all {len(first)} of the first conv layer" +
                 (f", {len(panels) - len(first)} of the second" if len(kernels) > 1 else ""), fontsize=10)
    fig.tight_layout()
    return fig


def plot_feature_maps(image: np.ndarray, maps: list[tuple[str, np.ndarray]], per_layer: int = 16,
                      title: str = "") -> Figure:
    """The digit, then up to `per_layer` activation maps of each conv layer, one row per layer; each map is
    titled by its layer and channel ("conv1 #3")."""
    fig, axes = plt.subplots(len(maps) + 1, per_layer, figsize=(0.9 * per_layer, 1.05 * (len(maps) + 1)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes[0, 0].axis("on")
    _show(axes[0, 0], _digit(image), "input")
    for row, (name, activations) in enumerate(maps, start=1):
        for f in range(min(per_layer, activations.shape[0])):
            axes[row, f].axis("on")
            _show(axes[row, f], activations[f], f"{name} #{f}", cmap="viridis")
            axes[row, f].title.set_fontsize(7)
    fig.suptitle(title or "feature maps, layer by layer", fontsize=10)
    fig.tight_layout()
    return fig


def plot_tsne(embedding: np.ndarray, labels: np.ndarray, classes: list[str]) -> Figure:
    """2-D t-SNE of the penultimate features, one colour per class."""
    fig, ax = plt.subplots(figsize=(7, 6))
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for k, name in enumerate(classes):
        points = embedding[labels == k]
        ax.scatter(points[:, 0], points[:, 1], s=6, color=cmap(k % cmap.N), label=name)
        if len(points):
            cx, cy = np.median(points, axis=0)
            ax.text(cx, cy, name, fontsize=12, weight="bold", ha="center", va="center",
                    bbox=dict(facecolor="white", alpha=0.6, lw=0))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"t-SNE of the last hidden layer ({len(labels)} test images)")
    ax.legend(markerscale=3, fontsize=7, loc="best", ncol=2)
    fig.tight_layout()
    return fig


def plot_saliency(images: np.ndarray, saliency: np.ndarray, gradcam: np.ndarray, titles: list[str]) -> Figure:
    """For each digit: the input, |d score / d pixel| and Grad-CAM over the input."""
    n = len(images)
    fig, axes = plt.subplots(3, n, figsize=(1.5 * n, 4.8), squeeze=False)
    for i in range(n):
        digit = _digit(images[i])
        _show(axes[0, i], digit, titles[i])
        _show(axes[1, i], saliency[i], "saliency" if i == 0 else None, cmap="hot")
        _show(axes[2, i], digit, "Grad-CAM" if i == 0 else None)
        axes[2, i].imshow(gradcam[i], cmap="jet", alpha=0.45)
    fig.tight_layout()
    return fig


def plot_robustness(study: dict) -> Figure:
    """Accuracy against shift, rotation, noise and blur (and pen, scan size and light, for digit models)."""
    pictures = [key for key in ("pen", "resolution", "lighting") if key in study]
    fig, axes = plt.subplots(1, 4 + len(pictures), figsize=(3.75 * (4 + len(pictures)), 3.6), sharey=True)
    shift = study["shift"]
    for direction in ("right", "left", "down", "up"):
        axes[0].plot(shift["pixels"], shift[direction], "o-", label=direction)
    axes[0].set_xlabel("shift (pixels)")
    axes[0].legend(fontsize=8)
    for ax, key, x, label in ((axes[1], "rotation", "degrees", "rotation (degrees, ±)"),
                              (axes[2], "noise", "std", "Gaussian noise (std)"),
                              (axes[3], "blur", "sigma", "Gaussian blur (sigma, pixels)")):
        ax.plot(study[key][x], study[key]["accuracy"], "o-", color="tab:purple")
        ax.set_xlabel(label)
    labels = {"pen": ("pixels", "pen: pixels thicker (28x28 scale)"), "resolution": ("pixels", "scanned at N x N"),
              "lighting": ("darkest", "side light: darker side's brightness")}
    for ax, key in zip(axes[4:], pictures):
        x, label = labels[key]
        ax.plot(study[key][x], study[key]["accuracy"], "o-", color="tab:green")
        ax.set_xlabel(f"{label}\n({study[key]['count']} digits as pictures)")
        if key in ("resolution", "lighting"):
            ax.invert_xaxis()  # worse to the right, as on the other axes
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.set_ylim(0, 1.02)
    axes[0].set_ylabel("test accuracy")
    fig.suptitle(f"robustness on {study['count']} test images (plain accuracy {study['plain']:.2%})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_shift_feature_maps(before: np.ndarray, after: np.ndarray, maps_before: np.ndarray, maps_after: np.ndarray,
                            pixels: int, per_layer: int = 8) -> Figure:
    """A digit and its first-layer maps, before and after a shift: the maps move with the digit."""
    n = min(per_layer, maps_before.shape[0])
    fig, axes = plt.subplots(2, n + 1, figsize=(1.2 * (n + 1), 2.8), squeeze=False)
    rows = ((before, maps_before, "original"), (after, maps_after, f"shifted {pixels}px"))
    for row, (digit, maps, name) in enumerate(rows):
        _show(axes[row, 0], _digit(digit), name)
        for f in range(n):
            _show(axes[row, f + 1], maps[f], f"map #{f}" if row == 0 else None, cmap="viridis")
    fig.suptitle("first-layer feature maps before and after a shift", fontsize=10)
    fig.tight_layout()
    return fig
