"""What the tests share, each thing once: paths and namespace basics (`host`), builders of configs,
states and plans (`builders`, `config`, `planobjects`, `gen`, `strategies`), kernel fixtures
(`kernel`, `agent`), the simulated kernel (`simkernel`), golden files (`golden`) and the scenario
toolkits (`cluster`, `traffic`, `counters`, `esp`), which use `lab/`'s traffic and capture tools.
Test modules import from here, never from each other."""
