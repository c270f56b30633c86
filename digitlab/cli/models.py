"""digitlab models: every registered model with its parameters, multiply-adds and a description.

--compare-conv counts the parameters of a standard, a depthwise-separable and a group
convolution built as real layers, beside the formulas k*k*M*N, k*k*M + M*N and k*k*M*N/g.
"""

from __future__ import annotations

from digitlab.cli.common import add_json, format_table, print_json
from digitlab.errors import ConfigError
from digitlab.models import list_models, model_entry
from digitlab.models.complexity import conv_comparison, model_card


def add_parser(commands) -> None:
    p = commands.add_parser("models", help="list the model zoo with sizes and costs", description=__doc__)
    p.set_defaults(run=run)
    p.add_argument("--compare-conv", action="store_true", help="compare standard, depthwise-separable and group convs")
    p.add_argument("--in-channels", "-M", type=int, default=64, help="input channels M (default: 64)")
    p.add_argument("--out-channels", "-N", type=int, default=128, help="output channels N (default: 128)")
    p.add_argument("--kernel", "-k", type=int, default=3, help="kernel size k (default: 3)")
    p.add_argument("--groups", "-g", type=int, default=4, help="groups g of the group conv (default: 4)")
    add_json(p)


def _human(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


def run(args) -> int:
    if args.compare_conv:
        return _compare(args)
    rows = [{"name": name, **model_card(name), "description": model_entry(name).description} for name in list_models()]
    if args.json:
        print_json(rows)
        return 0
    print(format_table([[r["name"], f"{r['params']:,}", _human(r["macs"]), r["description"]] for r in rows],
                       ["model", "params", "MACs/image", "description"]))
    return 0


def _compare(args) -> int:
    if min(args.in_channels, args.out_channels, args.kernel, args.groups) < 1:
        raise ConfigError("channels, kernel and groups must be positive")
    try:
        rows = conv_comparison(args.in_channels, args.out_channels, args.kernel, args.groups)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if args.json:
        print_json(rows)
        return 0
    k, m, n = args.kernel, args.in_channels, args.out_channels
    print(f"{k}x{k} convolution, M={m} input channels, N={n} output channels, on a 28x28 map (no bias)\n")
    print(format_table([[r["layer"], f"{r['params']:,}", f"{r['formula']} = {r['formula_value']:,}",
                         f"{r['ratio_to_standard']:.3f}", f"{r['macs']:,}"] for r in rows],
                       ["layer", "params (counted)", "formula", "x standard", "MACs"]))
    return 0
