"""`python -m digitlab` (also what `torchrun -m digitlab` runs)."""

from digitlab.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
