"""Side-by-side benchmark suite of kyuubi_py (``make bench`` / ``make bench-quick``).

Scenarios B1-B9 start real peers on loopback (the gateway, the engine direct, a plain byte relay
in front of the engine, Spark Thrift Server) and compare them round by round; M1-M4 are
micro-benchmarks without a JVM. Targets and their sources: section 7 of
shared/reference/performance.md (beside this repository). Entry point: ``python -m bench.run``.
"""
