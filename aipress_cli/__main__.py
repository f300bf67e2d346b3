from aipress_cli.main import main

main()
