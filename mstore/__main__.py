from mstore.cli.main import main

main()
