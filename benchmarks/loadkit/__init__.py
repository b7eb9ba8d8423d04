"""The load kit: simulated students against a real gunicorn, a bare baseline, and the save oracle.

Run ``python -m benchmarks.loadkit --help``; docs/performance.md explains every figure it prints.
Everything it starts listens on 127.0.0.1 below port 32768, and every loop it runs is bounded in
count and in time.
"""
