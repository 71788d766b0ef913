#!/usr/bin/env python3
"""Timeline of one dmarcdb run, from scheduler and syscall events.

Per thread of the process: time running, runnable but not running (waiting
for a CPU), sleeping (S: waiting on another thread), in D (disk); the time
during which fewer than two of its threads wanted a CPU ("serial": a core
idle because of us, not because of other load); the fsyncs; and a strip per
bucket of which thread ran. Record system-wide (a thread's switch-in is
recorded in the context of the task it replaces):

  perf record -a -o X.perf -e 'sched:sched_switch,sched:sched_wakeup,\
    sched:sched_wakeup_new,sched:sched_process_exit,syscalls:sys_enter_fsync,\
    syscalls:sys_exit_fsync,syscalls:sys_exit_execve,\
    syscalls:sys_enter_exit_group,syscalls:sys_enter_linkat,\
    syscalls:sys_enter_clone3' -- dmarcdb --db NEW ingest DIR
  perf script -i X.perf | python3 bench/timeline.py dmarcdb [bucket_ms]

COMM is the start of the process's name (as `perf script` shows it).
bench/README.md ("Round 8 ... critical path") has examples.
"""
import re
import sys
from collections import defaultdict

comm = sys.argv[1]
bucket = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
ev_re = re.compile(r"^\s*(\S.*?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$")

events = []
for line in sys.stdin:
    m = ev_re.match(line)
    if not m:
        continue
    c, pid, cpu, t, name, rest = m.groups()
    events.append((float(t) * 1000.0, int(pid), int(cpu), name, rest, c))

ours = set()
for t, pid, cpu, name, rest, c in events:
    if c.startswith(comm):
        ours.add(pid)
    if name == "sched:sched_switch":
        m = re.search(r"next_comm=(.*) next_pid=(\d+)", rest)
        if m and m.group(1).startswith(comm):
            ours.add(int(m.group(2)))
start = None
end = None
for t, pid, cpu, name, rest, c in events:
    if pid in ours and name == "syscalls:sys_exit_execve":
        start = t
    if pid in ours and name in ("syscalls:sys_enter_exit_group", "sched:sched_process_exit"):
        end = t
if start is None:
    start = min(e[0] for e in events if e[1] in ours)
if end is None:
    end = max(e[0] for e in events if e[1] in ours)

state = {}  # pid -> (kind, since)
acc = defaultdict(lambda: defaultdict(float))
runs = defaultdict(list)  # pid -> [(from, to)]
marks = []
first_seen = {}
allint = []


def close(pid, t):
    if pid in state:
        kind, since = state[pid]
        s = max(since, start)
        if t > s:
            acc[pid][kind] += t - s
            allint.append((s, t, pid, kind))
            if kind == "run":
                runs[pid].append((s, t))


main = min(ours)
state[main] = ("run", start)
first_seen[main] = start
for t, pid, cpu, name, rest, c in events:
    if t < start:
        continue
    if name == "sched:sched_switch":
        m = re.search(r"prev_pid=(\d+) prev_prio=\d+ prev_state=(\S+) ==> next_comm=.* next_pid=(\d+)", rest)
        prev, pstate, nxt = int(m.group(1)), m.group(2), int(m.group(3))
        if prev in ours:
            close(prev, t)
            k = {"R": "wait-cpu", "R+": "wait-cpu", "S": "sleep", "D": "disk"}.get(pstate, "other:" + pstate)
            state[prev] = (k, t)
        if nxt in ours:
            first_seen.setdefault(nxt, t)
            close(nxt, t)
            state[nxt] = ("run", t)
    elif name in ("sched:sched_wakeup", "sched:sched_wakeup_new"):
        m = re.search(r"pid=(\d+)", rest)
        p = int(m.group(1))
        if p in ours and p in state and state[p][0] != "run":
            close(p, t)
            state[p] = ("wait-cpu", t)
    elif name == "sched:sched_process_exit":
        m = re.search(r"pid=(\d+)", rest)
        p = int(m.group(1))
        if p in ours:
            close(p, t)
            state.pop(p, None)
            marks.append((t, p, "exit", ""))
    elif pid in ours and name.startswith("syscalls:"):
        marks.append((t, pid, name.split(":")[1], rest))
for pid in list(state):
    close(pid, end)

main = min(ours)
print(f"wall (exec→exit_group): {end - start:.2f} ms")
tot_run = 0
for pid in sorted(ours):
    a = acc[pid]
    tot_run += a["run"]
    fs = first_seen.get(pid, start) - start
    parts = ", ".join(f"{k} {v:.2f}" for k, v in sorted(a.items()))
    print(f"  tid {pid}{' (main)' if pid == main else ''}: first on CPU at {fs:.2f} ms; {parts}")
print(f"CPU used {tot_run:.2f} ms of 2 x {end - start:.2f} = {2 * (end - start):.2f}; idle capacity {2 * (end - start) - tot_run:.2f} ms")
# Sweep: how many of our threads want a CPU (running or runnable) at once.
pts = []
for a, b, pid, kind in allint:
    if kind in ("run", "wait-cpu"):
        pts.append((a, 1))
        pts.append((b, -1))
pts.sort()
want = defaultdict(float)
n = 0
last = start
for t, d in pts:
    want[min(n, 2)] += t - last
    n += d
    last = t
want[min(n, 2)] += end - last
print(f"time with 0 / 1 / 2+ of our threads wanting a CPU: {want[0]:.2f} / {want[1]:.2f} / {want[2]:.2f} ms; serial (idle by us) = {2*want[0]+want[1]:.2f} core-ms")
for t, pid, what, rest in marks:
    print(f"  {t - start:8.2f} ms tid {pid}: {what} {rest[:60]}")

# Strip: one char per bucket per thread, share of the bucket spent running.
n = int((end - start) / bucket) + 1
print(f"strip, {bucket} ms per column ('#' ran >2/3, '+' >1/3, '.' some, ' ' none):")
for pid in sorted(ours):
    cells = [0.0] * n
    for a, b in runs[pid]:
        x = a
        while x < b:
            i = int((x - start) / bucket)
            edge = start + (i + 1) * bucket
            y = min(b, edge)
            if 0 <= i < n:
                cells[i] += y - x
            x = y
    s = "".join("#" if v > bucket * 2 / 3 else "+" if v > bucket / 3 else "." if v > 0 else " " for v in cells)
    print(f"{pid:>7} |{s}|")

# Row: per bucket, the average number of our threads wanting a CPU (capped 2).
nb = int((end - start) / bucket) + 1
acc_w = [0.0] * nb
n = 0
last = start
def add(a, b, k):
    x = a
    while x < b:
        i = int((x - start) / bucket)
        y = min(b, start + (i + 1) * bucket)
        if 0 <= i < nb:
            acc_w[i] += (y - x) * k
        x = y
for t, d in pts:
    add(last, t, min(n, 2))
    n += d
    last = t
add(last, end, min(n, 2))
print(f"{'want':>7} |" + "".join(str(min(2, int(v / bucket + 0.5))) for v in acc_w) + "|")
