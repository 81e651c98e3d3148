/*
 * Quote-stream throughput through the C ABI: read N ticks (default 5,000,000) of the default
 * runtime's synthetic stream with mdp_stream_read into a 4096-tick buffer; prints
 * "c ticks_per_sec <rate>". Its Rust twin is ffi/examples/stream_rate.rs; examples/c/bench.sh
 * runs both back to back.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mdp.h"

enum { BUF_TICKS = 4096 };
static MdpTick buf[BUF_TICKS];

static double now_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what, MdpStatus status) {
    fprintf(stderr, "%s: %s: %s\n", what, mdp_status_name((int)status), mdp_last_error());
    return 1;
}

int main(int argc, char **argv) {
    unsigned long long want = argc > 1 ? strtoull(argv[1], NULL, 10) : 5000000ULL;
    MdpRuntime *rt = NULL;
    MdpQuoteStream *stream = NULL;
    int rc = 0;
    MdpStatus s = mdp_runtime_start_toml("", &rt);
    if (s != MDP_STATUS_OK) return fail("start", s);
    const char *symbols[] = {"AAPL", "MSFT"};
    s = mdp_runtime_stream_quotes(rt, symbols, 2, &stream);
    if (s != MDP_STATUS_OK) {
        rc = fail("stream", s);
        goto done;
    }
    /* The clock starts at the first tick, as in the Rust twin. */
    size_t n = 0;
    s = mdp_stream_read(stream, buf, 1, UINT64_MAX, &n);
    if (s != MDP_STATUS_OK) {
        rc = fail("first read", s);
        goto done;
    }
    double t0 = now_sec();
    unsigned long long got = 0;
    uint64_t check = 0;
    while (got < want) {
        size_t cap = want - got < BUF_TICKS ? (size_t)(want - got) : BUF_TICKS;
        s = mdp_stream_read(stream, buf, cap, UINT64_MAX, &n);
        if (s != MDP_STATUS_OK) {
            rc = fail("read", s);
            goto done;
        }
        check += buf[n - 1].seq;
        got += n;
    }
    double secs = now_sec() - t0;
    printf("c ticks %llu secs %.4f ticks_per_sec %.0f (check %llu)\n", got, secs,
           (double)got / secs, (unsigned long long)check);
done:
    mdp_stream_free(stream);
    mdp_runtime_free(rt);
    return rc;
}
