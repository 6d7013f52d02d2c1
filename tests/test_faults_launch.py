"""training.launch: the command runs with SIGTERM blocked, a SIGTERM to the launcher becomes SIGUSR1 for the
command, the exit status is the command's. Real processes and signals; a small Python script stands in for
mpirun (the 2-rank mpirun job under the launcher is in test_faults_training.py)."""

import signal
import subprocess
import sys
import time

from training.launch import main

CHILD = """
import signal, sys, time
blocked = int(next(l for l in open("/proc/self/status") if l.startswith("SigBlk:")).split()[1], 16)
print("sigterm-blocked", bool(blocked & (1 << (signal.SIGTERM - 1))), flush=True)
signal.signal(signal.SIGUSR1, lambda *a: (print("got SIGUSR1", flush=True), sys.exit(75)))
time.sleep(60)
sys.exit(3)
"""


def test_sigterm_to_the_launcher_reaches_the_command_as_sigusr1_and_its_status_comes_back():
    process = subprocess.Popen([sys.executable, "-m", "training.launch", sys.executable, "-c", CHILD],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().split() == ["sigterm-blocked", "True"]
    process.send_signal(signal.SIGUSR1)  # ignored by the launcher (the command gets its own from the batch system)
    time.sleep(0.3)
    assert process.poll() is None
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    assert out.strip() == "got SIGUSR1"
    assert process.returncode == 75


def test_usage_help_and_a_missing_command(capsys):
    assert main([]) == 2 and "usage" in capsys.readouterr().err
    assert main(["--help"]) == 0 and "mpirun" in capsys.readouterr().out
    assert main(["/nonexistent/mpirun", "-np", "2"]) == 127
    assert "cannot run /nonexistent/mpirun" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or callable(signal.getsignal(signal.SIGTERM))
    assert signal.getsignal(signal.SIGUSR1) is not signal.SIG_IGN, "the launcher's handlers are restored"
    assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, [])


def test_a_command_killed_by_a_signal_exits_128_plus_n():
    assert main([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]) == 128 + 9
    assert main([sys.executable, "-c", "raise SystemExit(75)"]) == 75
