"""The performance harness of issue 6: `python -m bench --help`.

Every scenario makes its own database (`hs_bench_<random>`) and broker prefix
(`bench.<random>`), starts the Harvest simulator and the workers as subprocesses on 127.0.0.1,
measures, prints a table, appends to bench/RESULTS.md and removes what it made.
"""
