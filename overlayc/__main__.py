from overlayc.launch import main

main()
