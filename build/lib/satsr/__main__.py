from satsr.cli import main

main()
