"""The exit codes of every command-line tool in the project, defined once (README "Exit codes").

0 success; 1 the work failed (a step, a section, a transfer; details on stderr and in the log);
2 bad arguments or configuration; 75 another run holds the resource (EX_TEMPFAIL: try later);
130 interrupted (Ctrl-C).
"""
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUSY = 75
EXIT_INTERRUPTED = 130
