"""`python -m nn.verify FILE:FUNCTION --layers 2,10,10,1 --activations relu,relu,sigmoid`,
`python -m nn.verify layer FILE:FUNCTION ...` and `python -m nn.verify cost FILE:FUNCTION ...`
(see `nn.verify.cli`)."""

import sys

from nn.verify.cli import main

if __name__ == "__main__":
    sys.exit(main())
