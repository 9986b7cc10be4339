"""Side-by-side benchmark suite of kyuubi_py (``make bench`` / ``make bench-quick``).

Scenarios B1-B9 start real peers on loopback (the gateway, the engine direct, a plain byte relay
in front of the engine, Spark Thrift Server) and compare them round by round; M1-M4 are
micro-benchmarks without a JVM. Targets and their sources: /work/shared/reference/performance.md
section 7. Entry point: ``python -m bench.run``.
"""
