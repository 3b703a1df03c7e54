from ltvrec.cli import main

main()
