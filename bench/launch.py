"""Run one command and write `<seconds> <peak RSS KiB> <exit code>` to a file.

Why a separate launcher: when a process execs, Linux records the RSS high-water
mark of the memory it had before exec as its own maxrss. A command forked
straight from the harness (numpy and matplotlib loaded) would therefore never
report less than the harness's own size. This launcher is started with `-I -S`
and imports only os, sys and time, so the floor it passes on is a few MB; the
wait4 rusage it reads covers the command and every descendant it waited for.

Usage: python -I -S launch.py RESULT_FILE CMD [ARG...]
"""
import os
import sys
import time


def main() -> int:
    result, argv = sys.argv[1], sys.argv[2:]
    start = time.perf_counter()
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ)
    except OSError as exc:
        print(f"launch.py: cannot run {argv[0]}: {exc}", file=sys.stderr)
        return 127
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    with open(result, "w") as f:
        f.write(f"{seconds} {usage.ru_maxrss} {code}\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
