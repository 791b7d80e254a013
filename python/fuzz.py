"""Fuzz the functional API of both backends with hypothesis-generated calls (valid and
invalid shapes, strides, padding, dilation, dtypes and memory layouts).

Batches run in child processes so that a segfault is counted instead of ending the run.
Prints cases, outcomes (ok / rejected / disagreement / bad-error) and crashes.

    python python/fuzz.py --cases 10000 [--batch 1000] [--seed 0]
"""
import argparse
import json
import subprocess
import sys
import time


def child(cases, seed):
    import warnings
    from hypothesis import HealthCheck, given, seed as hseed, settings, strategies as st

    import cnn_ext
    from cnn_ext.testing import draw_call, run_call

    warnings.simplefilter("ignore")
    backends = ["cython", "numpy"] if cnn_ext.backend_info()["compiled"] else ["numpy"]
    counts, examples = {}, {}

    @hseed(seed)
    @settings(max_examples=cases, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def one(data):
        name, fn, exact = draw_call(data.draw)
        outcome, detail = run_call(fn, backends, exact)
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome in ("disagreement", "bad-error") and len(examples) < 20:
            examples[f"{name} #{sum(counts.values())}"] = detail

    one()
    print(json.dumps({"counts": counts, "examples": examples}), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=1000, help="cases per child process")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args.batch, args.seed)
    t0 = time.time()
    totals, crashes, examples = {}, [], {}
    done, k = 0, 0
    while done < args.cases:
        n = min(args.batch, args.cases - done)
        seed = args.seed * 100003 + k
        p = subprocess.run([sys.executable, __file__, "--child", "--batch", str(n), "--seed", str(seed)],
                           capture_output=True, text=True)
        k += 1
        if p.returncode != 0:
            crashes.append({"seed": seed, "returncode": p.returncode, "stderr": p.stderr[-500:]})
            print(f"batch seed {seed}: child died with code {p.returncode}", flush=True)
        else:
            res = json.loads(p.stdout.strip().splitlines()[-1])
            for key, v in res["counts"].items():
                totals[key] = totals.get(key, 0) + v
            examples.update(res["examples"])
        done += n
        print(f"{done}/{args.cases} cases, {time.time() - t0:.0f}s: {totals}", flush=True)
    cases = sum(totals.values())
    bad = totals.get("disagreement", 0) + totals.get("bad-error", 0)
    print(f"\ncases {cases}  ok {totals.get('ok', 0)}  rejected {totals.get('rejected', 0)}  "
          f"disagreements {totals.get('disagreement', 0)}  bad-errors {totals.get('bad-error', 0)}  "
          f"crashes {len(crashes)}  ({time.time() - t0:.0f}s)")
    for k_, v in list(examples.items())[:10]:
        print(f"  {k_}: {v}")
    for c in crashes:
        print(f"  crash: {c}")
    return 1 if (bad or crashes) else 0


if __name__ == "__main__":
    sys.exit(main())
