from bazaar.cli import main

main()
