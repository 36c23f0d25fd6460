from overlayc.cli import main

main()
