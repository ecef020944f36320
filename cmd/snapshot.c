/* SPDX-License-Identifier: MIT
 *
 * snapshot.c - `heapgraph snapshot PID`: asks a process that `heapgraph
 * run` records to take a heap snapshot, by sending it the snapshot signal.
 * The runtime's handler only sets a flag; the snapshot itself happens at the
 * process's next allocation and lands in the capture beside the exit one.
 *
 * The signal is only sent when the process catches it (SigCgt in
 * /proc/PID/status): the default action of a real-time signal ends the
 * process, so a process that is not recorded must not get it.
 */
#include "cmd/cmd.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define SNAPSIG_ENV "HEAPGRAPH_SNAPSHOT_SIGNAL" /* RT_ENV_SNAPSIG in profiler/ring.h */
#define SNAPSIG_OFFSET 7                        /* RT_SNAPSHOT_SIGNAL_OFFSET */

static const char usage_text[] =
    "usage: heapgraph snapshot [-s SIGNAL] PID\n"
    "\n"
    "Asks the process PID, recorded by `heapgraph run`, for a heap snapshot:\n"
    "its reachability (leaks, cycles, what is still held) at that moment.\n"
    "The snapshot is taken at the process's next allocation, so a process\n"
    "that never allocates again takes none. The report lists every snapshot\n"
    "and the leak groups that grew between them.\n"
    "\n"
    "  -s, --signal N  signal number to send (default: the process's\n"
    "                  HEAPGRAPH_SNAPSHOT_SIGNAL, else SIGRTMIN+7)\n"
    "  -h, --help      print this help\n";

/* The snapshot signal the process was started with: HEAPGRAPH_SNAPSHOT_SIGNAL
 * in its environment if readable, else the default. */
static int process_signal(pid_t pid)
{
    char path[64], buf[65536];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    FILE *f = fopen(path, "r");
    int sig = SIGRTMIN + SNAPSIG_OFFSET;
    if (!f)
        return sig;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    size_t keylen = strlen(SNAPSIG_ENV);
    for (size_t at = 0; at < len; at += strlen(buf + at) + 1) {
        if (strncmp(buf + at, SNAPSIG_ENV "=", keylen + 1))
            continue;
        char *end;
        long n = strtol(buf + at + keylen + 1, &end, 10);
        if (!*end && n > 0 && n <= SIGRTMAX)
            sig = (int)n;
    }
    return sig;
}

/* 1 if the process has a handler for sig, 0 if not, -1 if it does not
 * exist (or its status cannot be read). */
static int catches(pid_t pid, int sig)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int ret = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "SigCgt:", 7))
            continue;
        unsigned long long mask = strtoull(line + 7, NULL, 16);
        ret = (int)((mask >> (sig - 1)) & 1);
        break;
    }
    fclose(f);
    return ret;
}

static int parse_pid(const char *s, pid_t *pid)
{
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (errno || *end || end == s || n <= 0 || n > 0x7fffffffL)
        return -1;
    *pid = (pid_t)n;
    return 0;
}

int cmd_snapshot(int argc, char **argv)
{
    static const struct option opts[] = {
        {"signal", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int sig = 0, c;
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(usage_text, stdout);
            return HG_EXIT_OK;
        case 's':
            sig = (int)strtol(optarg, &end, 10);
            if (*end || sig <= 0 || sig > SIGRTMAX)
                return cmd_error(HG_EXIT_USAGE, "snapshot: bad signal number '%s'", optarg);
            break;
        default:
            fputs(usage_text, stderr);
            return HG_EXIT_USAGE;
        }
    }
    if (optind != argc - 1)
        return fputs(usage_text, stderr), HG_EXIT_USAGE;
    pid_t pid;
    if (parse_pid(argv[optind], &pid))
        return cmd_error(HG_EXIT_USAGE, "snapshot: '%s' is not a process id", argv[optind]);
    if (!sig)
        sig = process_signal(pid);
    int caught = catches(pid, sig);
    if (caught < 0)
        return cmd_error(HG_EXIT_USAGE, "snapshot: no process %d", (int)pid);
    if (!caught)
        return cmd_error(HG_EXIT_USAGE, "snapshot: process %d does not catch signal %d: "
                         "is it recorded by heapgraph run?", (int)pid, sig);
    if (kill(pid, sig))
        return cmd_error(HG_EXIT_USAGE, "snapshot: signalling process %d: %s", (int)pid, strerror(errno));
    printf("snapshot requested from process %d (signal %d); it is taken at its next allocation\n",
           (int)pid, sig);
    return HG_EXIT_OK;
}
