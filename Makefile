.PHONY: run test bench demo
run:    ## set up, build the demo store if missing, start the app on 127.0.0.1
	bash scripts/run.sh
test:   ## set up and run the whole test suite
	bash scripts/test.sh
bench:  ## run every benchmark and print the table of ratios
	bash scripts/setup.sh && .venv/bin/python -m bench.run
