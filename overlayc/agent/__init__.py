"""The node agent: `overlayc reconcile` and `overlayc status`.

    report   RoundOutcome, RoundReport, EXIT_CODES        what a round did (pure)
    loop     Reconciler, Control, RetryPolicy, next_wake  the loop, its schedule and retries (pure,
                                                          everything with a side effect injected)
    status   Status, build_status                         one node's health as a model (pure)
    metrics  Metrics, serve, round_metrics                Prometheus exporter of the rounds
    run      run_agent, node_status                       wiring to the real kernel (the CLI calls these)
"""
