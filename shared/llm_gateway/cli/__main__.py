import sys

from llm_gateway.cli.main import main

sys.exit(main(sys.argv[1:]))
