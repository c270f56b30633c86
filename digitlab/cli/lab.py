"""digitlab lab: small runnable lessons on what a convolution computes, each with a picture (--out).

  corr2d           2-D cross-correlation by hand on a 3x3 input and a 2x2 kernel
  edges            the kernel [1, -1] finds vertical edges, and nothing in the transposed image
  learn-kernel     gradient descent recovers [1, -1] from inputs and outputs alone
  transposed-conv  a transposed convolution = zero insertion + padding + a conv with the flipped kernel
  im2col           patches as columns: a whole conv layer as one matrix product, and what it costs
  pooling          max and average pooling (no weights) beside a strided conv, on a digit
  receptive-field  how many input pixels each layer of a zoo model sees (--model NAME), formula and gradient
  autoencoder      a conv encoder and a ConvTranspose2d decoder learn to rebuild and denoise digits (mnist-5k)
"""

from __future__ import annotations

import numpy as np

from digitlab.cli.common import add_json, format_table, print_json
from digitlab.errors import ConfigError
from digitlab.numpy_cnn.lessons import (
    EDGE_KERNEL,
    conv_by_im2col,
    conv_direct,
    conv_transpose_as_conv,
    conv_transpose_output_size,
    conv_transpose_scatter,
    corr2d,
    edge_image,
    im2col,
    im2col_cost,
    learn_kernel,
    pool2d,
    zero_insert,
)
from digitlab.utils.files import atomic_write

LESSONS = ("corr2d", "edges", "learn-kernel", "transposed-conv", "im2col", "pooling", "receptive-field", "autoencoder")


def add_parser(commands) -> None:
    p = commands.add_parser("lab", help="lessons: convolution by hand, transposed conv, im2col, pooling, "
                                        "receptive field",
                            description=__doc__, formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.set_defaults(run=run)
    p.add_argument("lesson", choices=LESSONS)
    p.add_argument("--out", metavar="PNG", help="save a picture of the lesson")
    p.add_argument("--steps", type=int, default=20, help="learn-kernel: gradient steps (default: 20)")
    p.add_argument("--lr", type=float, default=3e-2, help="learn-kernel: learning rate (default: 0.03)")
    p.add_argument("--seed", type=int, default=0, help="learn-kernel, autoencoder: random seed (default: 0)")
    p.add_argument("--epochs", type=int, default=10, help="autoencoder: training epochs (default: 10)")
    p.add_argument("--stride", type=int, default=2, help="transposed-conv: stride (default: 2)")
    p.add_argument("--padding", type=int, default=0, help="transposed-conv: padding (default: 0)")
    p.add_argument("--model", default="seed-cnn", help="receptive-field: a zoo model (default: seed-cnn)")
    add_json(p)


def run(args) -> int:
    result, panels = _LESSONS[args.lesson](args)
    if args.out:
        _save_picture(args.out, args.lesson, panels)
        result["picture"] = args.out
    if args.json:
        print_json(result)
    return 0


def _corr2d(args):
    x, k = np.arange(9.0).reshape(3, 3), np.array([[0.0, 1.0], [2.0, 3.0]])
    y = corr2d(x, k)
    if not args.json:
        print(f"input X =\n{x}\nkernel K =\n{k}\nY = corr2d(X, K) =\n{y}")
        print("Y[0, 0] = 0*0 + 1*1 + 3*2 + 4*3 = 19: the kernel slides over X, multiplying and adding.")
    return {"input": x.tolist(), "kernel": k.tolist(), "output": y.tolist()}, [("X", x), ("K", k), ("corr2d(X, K)", y)]


def _edges(args):
    x = edge_image()
    y, yt = corr2d(x, EDGE_KERNEL), corr2d(x.T, EDGE_KERNEL)
    if not args.json:
        print(f"image X (white 1, black 0) =\n{x}\nY = corr2d(X, [1, -1]) =\n{y}")
        print("+1 where white turns black, -1 where black turns white: the vertical edges.")
        print(f"on the transposed image the edges are horizontal, and the same kernel sees none:\n{yt}")
    return ({"image": x.tolist(), "edges": y.tolist(), "edges_of_transposed": yt.tolist()},
            [("X", x), ("corr2d(X, [1,-1])", y), ("X transposed", x.T), ("corr2d(X^T, [1,-1])", yt)])


def _learn_kernel(args):
    kernel, losses = learn_kernel(args.steps, args.lr, args.seed)
    if not args.json:
        for step, loss in enumerate(losses, 1):
            if step % 2 == 0 or step == 1:
                print(f"step {step:3d}: loss {loss:.4f}")
        print(f"learned kernel {np.round(kernel, 4).tolist()}, true kernel {EDGE_KERNEL.tolist()}")
    return ({"losses": losses, "kernel": kernel.tolist(), "true_kernel": EDGE_KERNEL.tolist()},
            [("loss", np.array(losses)), ("learned kernel", kernel), ("true kernel", EDGE_KERNEL)])


def _transposed_conv(args):
    x, k = np.array([[0.0, 1.0], [2.0, 3.0]]), np.array([[0.0, 1.0], [2.0, 3.0]])
    s, p = args.stride, args.padding
    if s < 1 or not 0 <= p <= k.shape[0] - 1:
        raise ConfigError(f"--stride must be 1 or more and --padding 0-{k.shape[0] - 1} for a 2x2 kernel")
    scattered, as_conv = conv_transpose_scatter(x, k, s, p), conv_transpose_as_conv(x, k, s, p)
    import torch
    reference = torch.nn.functional.conv_transpose2d(torch.tensor(x)[None, None], torch.tensor(k)[None, None],
                                                     stride=s, padding=p)[0, 0].numpy()
    spread = np.pad(zero_insert(x, s), k.shape[0] - 1 - p)
    size = conv_transpose_output_size(x.shape[0], k.shape[0], s, p)
    if not args.json:
        print(f"input X =\n{x}\nkernel K =\n{k}\nstride {s}, padding {p}\n")
        print(f"1. by definition, each input pixel adds X[i, j] * K at (i*{s}, j*{s}), then {p} rows/cols are cut:"
              f"\n{scattered}\n")
        print(f"2. as a convolution: {s - 1} zero(s) between pixels, padding k - 1 - p = {k.shape[0] - 1 - p}:\n"
              f"{spread}\ncorrelated with K flipped in both axes\n{k[::-1, ::-1]}\n= \n{as_conv}\n")
        print(f"output size (n - 1)*s - 2p + k = ({x.shape[0]} - 1)*{s} - 2*{p} + {k.shape[0]} = {size}; "
              f"torch.nn.functional.conv_transpose2d gives the same: {np.allclose(reference, scattered)}")
    return ({"input": x.tolist(), "kernel": k.tolist(), "stride": s, "padding": p, "scatter": scattered.tolist(),
             "zero_inserted_padded": spread.tolist(), "as_conv": as_conv.tolist(), "torch": reference.tolist(),
             "output_size": size},
            [("X", x), ("K", k), ("zeros inserted, padded", spread), ("K flipped", k[::-1, ::-1]),
             ("X transposed-conv K", scattered)])


def _im2col(args):
    x = np.arange(1.0, 10.0).reshape(1, 3, 3)
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]], [[[0.0, 1.0], [1.0, 0.0]]]])  # 2 filters, 1 channel, 2x2
    cols = im2col(x, 2)
    by_matrix, direct = conv_by_im2col(x, w), conv_direct(x, w)
    cost = im2col_cost(channels=32, filters=64, kernel=3, size=14)  # digitnet's second conv, on 14x14 maps
    if not args.json:
        print(f"image (1 channel) =\n{x[0]}\ncolumns (each column: the 2x2 patch one output sees) =\n{cols}\n")
        print(f"2 filters as rows =\n{w.reshape(2, -1)}\nrows @ columns -> 2 maps of 2x2:\n{by_matrix}\n"
              f"the same as correlating filter by filter: {np.allclose(by_matrix, direct)}\n")
        print(f"for a real layer (32 -> 64 channels, 3x3, 14x14 maps): the input holds {cost['input_values']:,} "
              f"values, its columns {cost['column_values']:,} ({cost['blow_up']:.0f}x, "
              f"{cost['column_bytes'] / 1024:.0f} KiB in float32), and the product is {cost['macs']:,} MACs: "
              "more memory, but one fast matrix product instead of many small loops")
    return ({"image": x.tolist(), "columns": cols.tolist(), "filters": w.tolist(), "by_im2col": by_matrix.tolist(),
             "direct": direct.tolist(), "real_layer": cost},
            [("image", x[0]), ("im2col columns", cols), ("filters as rows", w.reshape(2, -1)),
             ("map 1", by_matrix[0]), ("map 2", by_matrix[1])])


def _pooling(args):
    from digitlab.data import load_dataset
    digit = load_dataset("mnist-5k").test.images[0, 0].numpy() / 255.0
    edge = np.array([[1.0, -1.0], [1.0, -1.0]]) / 2  # a 2x2 kernel with stride 2: a strided conv that looks for edges
    maxed, averaged = pool2d(digit, 2, "max"), pool2d(digit, 2, "mean")
    strided = corr2d(digit, edge)[::2, ::2]
    rows = [[name, f"{a.shape[0]}x{a.shape[1]}", f"{a.max():.2f}", int((np.abs(a) > 0.5).sum()), what]
            for name, a, what in [("digit", digit, "the input"),
                                  ("max pool 2x2", maxed, "the strongest ink in each window: strokes stay dark"),
                                  ("average pool 2x2", averaged, "the mean: thin strokes fade, edges blur"),
                                  ("conv 2x2, stride 2", strided, "what its (here fixed) weights look for: "
                                                                  "vertical edges, signed")]]
    if not args.json:
        print(format_table(rows, ["layer", "output", "peak", "pixels > 0.5", "keeps"]))
        print("\npooling has no weights: the same window for every map; a strided conv learns what to keep")
    return ({"rows": [dict(zip(("layer", "output", "peak", "strong_pixels", "keeps"), r)) for r in rows]},
            [("digit 28x28", digit), ("max pool 14x14", maxed), ("average pool 14x14", averaged),
             ("strided conv 14x14", strided)])


def _receptive_field(args):
    from digitlab.analysis.receptive_field import measured_field, receptive_fields
    from digitlab.data import load_dataset
    from digitlab.models import create_model
    model = create_model(args.model)
    try:
        rows = receptive_fields(model)
    except Exception:  # noqa: BLE001 - fx cannot trace every model
        rows = []
    if not rows:  # conv3d's windows are 3-D
        raise ConfigError(f"cannot follow {args.model}'s 2-D conv and pooling layers: pick a 2-D zoo model")
    checked = next((r for r in reversed(rows) if r.field < 28), rows[0])  # the deepest field inside the digit
    measured = measured_field(model, checked.layer)
    if not args.json:
        table = [[r.layer, r.kind, r.kernel, r.stride, f"{r.size}x{r.size}", f"{r.jump:g}", r.field] for r in rows]
        print(format_table(table, ["layer", "kind", "k", "s", "output", "jump", "field"]))
        print(f"\nfield r_out = r_in + (k - 1) * jump_in, jump_out = jump_in * s (from 1 and 1 at the input). "
              f"Measured by gradient at {checked.layer}: {measured} pixels (formula: {checked.field})")
    digit = load_dataset("mnist-5k").test.images[0, 0].numpy() / 255.0
    picks = sorted({0, len(rows) // 3, 2 * len(rows) // 3, len(rows) - 1})
    panels = [(f"{rows[i].layer}: {rows[i].field}px", _square_over(digit, rows[i].field)) for i in picks]
    return ({"model": args.model, "layers": [vars(r) for r in rows],
             "check": {"layer": checked.layer, "formula": checked.field, "measured": measured}}, panels)


def _autoencoder(args):
    import torch

    from digitlab.data import load_dataset
    from digitlab.training.autoencoder import NOISE, add_noise, train_autoencoder, walk
    if args.epochs < 1:
        raise ConfigError(f"--epochs must be 1 or more, not {args.epochs}")
    data = load_dataset("mnist-5k")

    def report(epoch, loss):
        if not args.json:
            print(f"epoch {epoch:2d}/{args.epochs}: denoising loss (MSE) {loss:.4f}", flush=True)

    result = train_autoencoder(data.train, data.test, epochs=args.epochs, seed=args.seed, progress=report)
    test = data.test
    picks = torch.cat([torch.nonzero(test.labels == d).flatten()[:1] for d in range(8)])
    clean = test.images[picks].float() / 255
    noisy = add_noise(clean, torch.Generator().manual_seed(args.seed + 2))
    start, end = (torch.nonzero(test.labels == d).flatten()[0] for d in (3, 8))
    with torch.no_grad():
        rows = [clean, result.model(clean), noisy, result.model(noisy), walk(result.model, test.images[start],
                                                                             test.images[end])]
    strips = [np.concatenate([np.pad(im[0].numpy(), 1, constant_values=1) for im in row], axis=1) for row in rows]
    mosaic = np.concatenate(strips, axis=0)
    if not args.json:
        print(f"test digits (1,000): reconstruction MSE {result.reconstruction_mse:.4f}; with noise (std {NOISE}) "
              f"{result.noisy_mse:.4f} before the model, {result.denoised_mse:.4f} after "
              f"({result.noisy_mse / result.denoised_mse:.1f}x less error)")
    return ({"epochs": args.epochs, "losses": result.losses, "reconstruction_mse": result.reconstruction_mse,
             "noisy_mse": result.noisy_mse, "denoised_mse": result.denoised_mse},
            [("rows: digits, rebuilt, noisy, denoised, a walk from 3 to 8 in code space", mosaic)])


def _square_over(digit: np.ndarray, field: int) -> np.ndarray:
    """The digit with the square an output at its centre sees drawn in (negative values: red)."""
    picture = digit.copy()
    half = field // 2
    lo, hi = max(0, 14 - half), min(27, 14 + half - (field % 2 == 0))
    picture[lo, lo:hi + 1] = picture[hi, lo:hi + 1] = picture[lo:hi + 1, lo] = picture[lo:hi + 1, hi] = -1
    return picture


_LESSONS = {"corr2d": _corr2d, "edges": _edges, "learn-kernel": _learn_kernel, "transposed-conv": _transposed_conv,
            "im2col": _im2col, "pooling": _pooling, "receptive-field": _receptive_field, "autoencoder": _autoencoder}


def _save_picture(path: str, title: str, panels: list[tuple[str, np.ndarray]]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if len(panels) == 1 and panels[0][1].ndim == 2:  # one mosaic: as wide as a page, its own aspect
        height, width = panels[0][1].shape
        fig, axes = plt.subplots(1, 1, figsize=(8, 8 * height / width + 0.8))
    else:
        fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.2))
    for ax, (name, values) in zip(np.atleast_1d(axes), panels):
        if values.ndim == 1:  # a curve
            ax.plot(np.arange(1, len(values) + 1), values, marker="o")
            ax.set_yscale("log")
            ax.set_xlabel("step")
        else:
            ax.imshow(values, cmap="RdGy_r" if values.min() < 0 else "gray", vmin=min(values.min(), -abs(values).max())
                      if values.min() < 0 else None)
            if values.size <= 64:
                for (i, j), v in np.ndenumerate(values):
                    ax.text(j, i, f"{v:g}" if float(v).is_integer() else f"{v:.2f}", ha="center", va="center",
                            color="tab:red", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        ax.set_title(name)
    fig.suptitle(f"digitlab lab {title}")
    fig.tight_layout()
    with atomic_write(path) as handle:
        fig.savefig(handle, format="png", dpi=100)
    plt.close(fig)
