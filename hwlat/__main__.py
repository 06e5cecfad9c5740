import sys

from hwlat.cli import main

sys.exit(main())
