"""Tentacle Manager: time to the first frame (5 runs) and idle CPU over 10 s. Run under a display, e.g. xvfb-run -a python3 app/scripts/measure_startup.py target/debug/tentacle-manager"""
import os, subprocess, sys, time
exe = sys.argv[1]
env = dict(os.environ, TENTACLE_MANAGER_TIMING="1")
results = []
for run in range(5):
    t0 = time.monotonic()
    p = subprocess.Popen([exe], stderr=subprocess.PIPE, env=env, text=True)
    inproc = None
    for line in p.stderr:
        if line.startswith("first frame after"):
            wall = (time.monotonic() - t0) * 1000
            inproc = int(line.split()[3])
            break
    if run == 4:
        time.sleep(5)  # let the window settle (status watcher's first look, fonts)
        tick = os.sysconf("SC_CLK_TCK")
        def cpu():
            f = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) / tick
        c0 = cpu(); w0 = time.monotonic()
        time.sleep(10)
        c1 = cpu(); w1 = time.monotonic()
        print(f"idle CPU over {w1-w0:.1f} s: {c1-c0:.2f} s CPU ({100*(c1-c0)/(w1-w0):.1f} % of one core)")
    p.terminate(); p.wait()
    results.append((wall, inproc))
    print(f"run {run+1}: first frame {wall:.0f} ms after spawn ({inproc} ms after main started)")
