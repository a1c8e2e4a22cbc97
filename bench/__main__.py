from bench.foundation import main

main()
