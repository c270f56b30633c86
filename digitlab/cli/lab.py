"""digitlab lab: small runnable lessons on what a convolution computes, each with a picture (--out).

  corr2d        2-D cross-correlation by hand on a 3x3 input and a 2x2 kernel
  edges         the kernel [1, -1] finds vertical edges, and nothing in the transposed image
  learn-kernel  gradient descent recovers [1, -1] from inputs and outputs alone
"""

from __future__ import annotations

import numpy as np

from digitlab.cli.common import add_json, print_json
from digitlab.numpy_cnn.lessons import EDGE_KERNEL, corr2d, edge_image, learn_kernel
from digitlab.utils.files import atomic_write

LESSONS = ("corr2d", "edges", "learn-kernel")


def add_parser(commands) -> None:
    p = commands.add_parser("lab", help="lessons: cross-correlation, edge detection, learning a kernel",
                            description=__doc__, formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.set_defaults(run=run)
    p.add_argument("lesson", choices=LESSONS)
    p.add_argument("--out", metavar="PNG", help="save a picture of the lesson")
    p.add_argument("--steps", type=int, default=20, help="learn-kernel: gradient steps (default: 20)")
    p.add_argument("--lr", type=float, default=3e-2, help="learn-kernel: learning rate (default: 0.03)")
    p.add_argument("--seed", type=int, default=0, help="learn-kernel: seed of the random start (default: 0)")
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


_LESSONS = {"corr2d": _corr2d, "edges": _edges, "learn-kernel": _learn_kernel}


def _save_picture(path: str, title: str, panels: list[tuple[str, np.ndarray]]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
