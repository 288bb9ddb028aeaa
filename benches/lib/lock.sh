# Sourced by benchmark scripts: `bench_lock NAME` waits until
# /tmp/bench.lock is free and takes it, `bench_unlock` frees it, and the
# lock is freed on exit if this script still holds it, so that timed steps
# of benchmarks sharing the machine never overlap.
bench_lock() { while [ -e /tmp/bench.lock ]; do sleep 20; done; echo "$1 $$" > /tmp/bench.lock; }
bench_unlock() { rm -f /tmp/bench.lock; }
trap 'if grep -qs " $$\$" /tmp/bench.lock; then bench_unlock; fi' EXIT
