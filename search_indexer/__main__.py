import sys

from search_indexer.cli import main

sys.exit(main())
