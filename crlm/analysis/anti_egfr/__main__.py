"""``python -m crlm.analysis.anti_egfr``: the study's numbers for a store (see ``report``)."""
from .report import main

raise SystemExit(main())
