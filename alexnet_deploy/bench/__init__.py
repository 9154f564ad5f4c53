"""Benchmarks: timing harness, statistics, energy, the machine record, reports and plots, compare.

``plan`` turns artifacts and backends into runs (refusing what cannot run, and
finding the PyTorch fp32 baseline); ``session`` runs them one backend at a time
through ``harness`` and ``energy``; ``stats`` summarises every run; ``results``
is the JSON record; ``table``, ``markdown`` and ``plots`` are what a person
reads; ``compare`` is the regression gate between two records.
"""
