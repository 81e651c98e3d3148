/*
 * The C ABI end to end: start a runtime from TOML text, stream ticks into a buffer, run a
 * pipeline, list it and snapshot the runtime as JSON, take tokens from a provider, trip a
 * circuit breaker, stop everything. Exits nonzero on any unexpected status.
 *
 * Build: see examples/c/run.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mdp.h"

static int fail(const char *what, MdpStatus status) {
    fprintf(stderr, "%s: %s: %s\n", what, mdp_status_name((int)status), mdp_last_error());
    return 1;
}

/* Run `call`; on anything but MDP_STATUS_OK print the status and message, then clean up. */
#define CHECK(call)                                                                       \
    do {                                                                                  \
        MdpStatus status_ = (call);                                                       \
        if (status_ != MDP_STATUS_OK) {                                                   \
            rc = fail(#call, status_);                                                    \
            goto done;                                                                    \
        }                                                                                 \
    } while (0)

/* Expect `call` to return `expected` (an error case). */
#define EXPECT(call, expected)                                                            \
    do {                                                                                  \
        MdpStatus status_ = (call);                                                       \
        if (status_ != (expected)) {                                                      \
            fprintf(stderr, "%s: expected %s, got %s (%s)\n", #call,                      \
                    mdp_status_name((int)(expected)), mdp_status_name((int)status_),      \
                    mdp_last_error());                                                    \
            rc = 1;                                                                       \
            goto done;                                                                    \
        }                                                                                 \
        printf("expected error: %s: %s\n", mdp_status_name((int)status_), mdp_last_error()); \
    } while (0)

static const char *SETTINGS =
    "max_concurrent_pipelines = 8\n"
    "default_sources = [\"feed\"]\n"
    "workers = 2\n"
    "[providers.feed]\n"
    "kind = \"synthetic\"\n"
    "symbols = [\"AAPL\", \"MSFT\", \"GOOG\"]\n"
    "seed = 42\n"
    "[providers.rest_api]\n"
    "kind = \"synthetic\"\n"
    "symbols = [\"SPY\"]\n"
    "request_based = true\n"
    "capacity = 100\n"
    "refill_rate = 200\n";

enum { BUF_TICKS = 256, STREAM_TICKS = 20000 };

/* 64-byte aligned by MdpTick's own alignment. */
static MdpTick buf[BUF_TICKS];

int main(void) {
    int rc = 0;
    MdpRuntime *rt = NULL;
    MdpQuoteStream *stream = NULL;
    MdpProvider *rest = NULL;
    MdpBreaker *breaker = NULL;
    char *key = NULL, *json = NULL, *report = NULL;

    /* Errors are statuses with a message naming the argument, never a crash. */
    EXPECT(mdp_runtime_start_toml(NULL, &rt), MDP_STATUS_NULL_ARGUMENT);
    EXPECT(mdp_runtime_start_toml("workers = \"two\"", &rt), MDP_STATUS_SETTINGS);

    CHECK(mdp_runtime_start_toml(SETTINGS, &rt));

    /* Stream: copy ticks into the buffer, up to BUF_TICKS per call. */
    const char *symbols[] = {"AAPL", "MSFT"};
    CHECK(mdp_runtime_stream_quotes(rt, symbols, 2, &stream));
    size_t total = 0, trades = 0;
    while (total < STREAM_TICKS) {
        size_t n = 0;
        CHECK(mdp_stream_read(stream, buf, BUF_TICKS, 10000, &n));
        for (size_t i = 0; i < n; i++) {
            const MdpTick *t = &buf[i];
            if (t->kind == MDP_KIND_TRADE || t->kind == MDP_KIND_BOTH) trades++;
            if (total + i < 3) {
                char name[32];
                size_t len = 0;
                CHECK(mdp_stream_symbol_name(stream, t->symbol, name, sizeof name, &len));
                printf("tick %zu: %s seq %u kind %u bid %.4f ask %.4f\n", total + i, name,
                       t->seq, t->kind, (double)t->bid / MDP_PRICE_SCALE,
                       (double)t->ask / MDP_PRICE_SCALE);
            }
        }
        total += n;
    }
    printf("streamed %zu ticks (%zu with a trade)\n", total, trades);
    /* A zero-capacity poll reads nothing; a too-small name buffer says what it needs. */
    size_t n0 = 1;
    CHECK(mdp_stream_poll(stream, NULL, 0, &n0));
    if (n0 != 0) {
        fprintf(stderr, "a zero-capacity poll read %zu ticks\n", n0);
        rc = 1;
        goto done;
    }
    char tiny[2];
    size_t need = 0;
    EXPECT(mdp_stream_symbol_name(stream, buf[0].symbol, tiny, sizeof tiny, &need),
           MDP_STATUS_BUFFER_TOO_SMALL);

    /* Run a pipeline of one-second bars, then list and snapshot. */
    MdpPipelineSpec spec = {0};
    spec.tenant_id = "desk";
    spec.pipeline_id = "bars";
    spec.symbols = symbols;
    spec.n_symbols = 2;
    spec.bar_window_ms = 1000;
    CHECK(mdp_runtime_run_pipeline(rt, &spec, &key));
    printf("started %s\n", key);
    EXPECT(mdp_runtime_run_pipeline(rt, &spec, NULL), MDP_STATUS_RUNTIME);

    CHECK(mdp_runtime_list_pipelines_json(rt, &json));
    printf("pipelines: %.300s...\n", json);
    mdp_string_free(json);
    json = NULL;
    CHECK(mdp_runtime_snapshot_json(rt, &json));
    if (strstr(json, "\"providers\"") == NULL || strstr(json, "desk/bars") == NULL) {
        fprintf(stderr, "snapshot lacks providers or desk/bars: %s\n", json);
        rc = 1;
        goto done;
    }
    printf("snapshot: %zu bytes of JSON\n", strlen(json));

    /* The coordinator, by handle: take tokens of the request-based provider's budget. */
    CHECK(mdp_runtime_provider(rt, "rest_api", &rest));
    CHECK(mdp_provider_try_acquire(rest, 10, NULL));
    CHECK(mdp_provider_acquire(rest, 1));
    uint64_t retry_ns = 0;
    EXPECT(mdp_provider_try_acquire(rest, 1000, &retry_ns), MDP_STATUS_REFUSED);
    EXPECT(mdp_runtime_provider(rt, "nope", &rest), MDP_STATUS_NOT_FOUND);

    /* A breaker: two failures open it; then calls are refused until its timeout. */
    CHECK(mdp_breaker_new("payments", 2, 60.0, &breaker));
    for (int i = 0; i < 2; i++) {
        uint8_t probe = 0;
        CHECK(mdp_breaker_allow(breaker, &probe, NULL));
        CHECK(mdp_breaker_record(breaker, 0));
    }
    MdpBreakerState state = MDP_BREAKER_STATE_CLOSED;
    CHECK(mdp_breaker_state(breaker, &state));
    if (state != MDP_BREAKER_STATE_OPEN) {
        fprintf(stderr, "breaker not open after two failures\n");
        rc = 1;
        goto done;
    }
    EXPECT(mdp_breaker_allow(breaker, NULL, &retry_ns), MDP_STATUS_CIRCUIT_OPEN);
    printf("breaker open; retry in %.1f s\n", (double)retry_ns / 1e9);

    /* Stop the pipeline: it drains and reports exact counts. */
    CHECK(mdp_runtime_stop_pipeline(rt, key, &report));
    if (strstr(report, "\"conserved\":true") == NULL) {
        fprintf(stderr, "report not conserved: %s\n", report);
        rc = 1;
        goto done;
    }
    printf("stopped: %.200s...\n", report);
    EXPECT(mdp_runtime_stop_pipeline(rt, key, NULL), MDP_STATUS_NOT_FOUND);

done:
    mdp_string_free(report);
    mdp_string_free(json);
    mdp_string_free(key);
    /* Freeing reports too (MDP_STATUS_PANIC only on a bug inside). */
    if (mdp_breaker_free(breaker) != MDP_STATUS_OK) rc = fail("mdp_breaker_free", MDP_STATUS_PANIC);
    if (mdp_provider_free(rest) != MDP_STATUS_OK) rc = fail("mdp_provider_free", MDP_STATUS_PANIC);
    if (mdp_stream_free(stream) != MDP_STATUS_OK) rc = fail("mdp_stream_free", MDP_STATUS_PANIC);
    if (mdp_runtime_free(rt) != MDP_STATUS_OK) rc = fail("mdp_runtime_free", MDP_STATUS_PANIC);
    printf(rc == 0 ? "c quickstart: ok\n" : "c quickstart: FAILED\n");
    return rc;
}
