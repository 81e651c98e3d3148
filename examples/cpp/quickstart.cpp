// The C ABI from C++: handles owned by std::unique_ptr with the library's free functions,
// statuses turned into exceptions carrying mdp_last_error(). Starts a runtime from TOML
// text, streams ticks into a std::vector<MdpTick>, keeps per-symbol counts, runs a bounded
// pipeline, prints the snapshot, takes provider tokens and exercises a breaker.
//
// Build: see examples/c/run.sh. Exits nonzero on any error.
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "mdp.h"

namespace {

struct Error : std::runtime_error {
    MdpStatus status;
    Error(const char *what, MdpStatus s)
        : std::runtime_error(std::string(what) + ": " + mdp_status_name(s) + ": " +
                             mdp_last_error()),
          status(s) {}
};

void check(MdpStatus s, const char *what) {
    if (s != MDP_STATUS_OK) throw Error(what, s);
}

struct RuntimeFree { void operator()(MdpRuntime *p) const { mdp_runtime_free(p); } };
struct StreamFree { void operator()(MdpQuoteStream *p) const { mdp_stream_free(p); } };
struct ProviderFree { void operator()(MdpProvider *p) const { mdp_provider_free(p); } };
struct BreakerFree { void operator()(MdpBreaker *p) const { mdp_breaker_free(p); } };
struct StringFree { void operator()(char *p) const { mdp_string_free(p); } };

using Runtime = std::unique_ptr<MdpRuntime, RuntimeFree>;
using Stream = std::unique_ptr<MdpQuoteStream, StreamFree>;
using Provider = std::unique_ptr<MdpProvider, ProviderFree>;
using Breaker = std::unique_ptr<MdpBreaker, BreakerFree>;
using String = std::unique_ptr<char, StringFree>;

Runtime start(const char *toml) {
    MdpRuntime *rt = nullptr;
    check(mdp_runtime_start_toml(toml, &rt), "start");
    return Runtime(rt);
}

std::string symbol_name(const Stream &s, uint32_t id) {
    char name[64];
    size_t len = 0;
    check(mdp_stream_symbol_name(s.get(), id, name, sizeof name, &len), "symbol name");
    return std::string(name, len);
}

const char *kSettings = R"(
max_concurrent_pipelines = 4
default_sources = ["feed"]
[providers.feed]
kind = "synthetic"
symbols = ["AAPL", "MSFT", "NVDA"]
seed = 7
[providers.quotes_api]
kind = "synthetic"
symbols = ["SPY"]
request_based = true
capacity = 50
refill_rate = 100
)";

}  // namespace

int main() {
    try {
        Runtime rt = start(kSettings);

        // Stream 10,000 ticks in batches of up to 512 and count them by symbol.
        const char *symbols[] = {"AAPL", "MSFT", "NVDA"};
        MdpQuoteStream *raw_stream = nullptr;
        check(mdp_runtime_stream_quotes(rt.get(), symbols, 3, &raw_stream), "stream");
        Stream stream(raw_stream);
        std::vector<MdpTick> buf(512);
        std::map<uint32_t, size_t> per_symbol;
        size_t total = 0;
        while (total < 10000) {
            size_t n = 0;
            check(mdp_stream_read(stream.get(), buf.data(), buf.size(), 10000, &n), "read");
            for (size_t i = 0; i < n; ++i) per_symbol[buf[i].symbol]++;
            total += n;
        }
        for (const auto &[id, count] : per_symbol)
            std::printf("%s: %zu ticks\n", symbol_name(stream, id).c_str(), count);
        stream.reset();  // stops its pipeline

        // A bounded pipeline: it ends by itself after 5,000 ticks.
        MdpPipelineSpec spec{};
        spec.tenant_id = "cpp";
        spec.pipeline_id = "bounded";
        spec.max_ticks = 5000;
        char *raw_key = nullptr;
        check(mdp_runtime_run_pipeline(rt.get(), &spec, &raw_key), "run pipeline");
        String key(raw_key);
        char *raw_json = nullptr;
        check(mdp_runtime_snapshot_json(rt.get(), &raw_json), "snapshot");
        String snapshot(raw_json);
        std::printf("snapshot: %.240s...\n", snapshot.get());
        char *raw_report = nullptr;
        check(mdp_runtime_stop_pipeline(rt.get(), key.get(), &raw_report), "stop");
        String report(raw_report);
        std::printf("report: %.200s...\n", report.get());

        // Provider tokens: the budget holds 50; asking 60 at once can never pass.
        MdpProvider *raw_provider = nullptr;
        check(mdp_runtime_provider(rt.get(), "quotes_api", &raw_provider), "provider");
        Provider api(raw_provider);
        check(mdp_provider_acquire(api.get(), 5), "acquire");
        uint64_t retry_ns = 0;
        MdpStatus s = mdp_provider_try_acquire(api.get(), 60, &retry_ns);
        if (s != MDP_STATUS_REFUSED) throw Error("try_acquire 60 should be refused", s);
        check(mdp_provider_record(api.get(), 1), "record");

        // The provider's own breaker, then a standalone one tripped by one failure.
        MdpBreaker *raw_breaker = nullptr;
        check(mdp_provider_breaker(api.get(), &raw_breaker), "provider breaker");
        Breaker provider_breaker(raw_breaker);
        MdpBreakerState state{};
        check(mdp_breaker_state(provider_breaker.get(), &state), "state");
        if (state != MDP_BREAKER_STATE_CLOSED) throw std::runtime_error("breaker not closed");
        check(mdp_breaker_new(nullptr, 1, 30.0, &raw_breaker), "breaker");
        Breaker breaker(raw_breaker);
        check(mdp_breaker_allow(breaker.get(), nullptr, nullptr), "allow");
        check(mdp_breaker_record(breaker.get(), 0), "record failure");
        s = mdp_breaker_allow(breaker.get(), nullptr, &retry_ns);
        if (s != MDP_STATUS_CIRCUIT_OPEN) throw Error("allow after a failure", s);
        std::printf("breaker open for %.0f s more\n", static_cast<double>(retry_ns) / 1e9);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "cpp quickstart: FAILED: %s\n", e.what());
        return 1;
    }
    std::printf("cpp quickstart: ok\n");
    return 0;
}
