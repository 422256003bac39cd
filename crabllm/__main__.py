"""`python -m crabllm` runs the command line."""

from crabllm.cli.main import main

raise SystemExit(main())
