import sys

from crlm.cli import main

sys.exit(main())
