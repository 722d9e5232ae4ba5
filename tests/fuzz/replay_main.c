/*
 * replay_main.c - trace_replay: reads each trace named on the command line
 * with trace_fuzz.c's code (every trace_read.c call, then handle-report's
 * model and its three renderings), under ASan/UBSan, without libFuzzer.
 * Used by tests/faults/hostile_traces.sh, and to replay a trace_fuzz
 * finding under a debugger. Exit status 0 when every file was read without
 * a crash (a trace refused with a reason counts as read).
 */
#include <stdio.h>

void trace_fuzz_file(const char *path);

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        trace_fuzz_file(argv[i]);
        printf("read: %s\n", argv[i]);
    }
    return 0;
}
