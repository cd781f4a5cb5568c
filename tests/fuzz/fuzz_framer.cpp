// The framing engine against the reference model of the framing suites (tests/chat/framing_rules_model.hpp): the
// fuzzer's bytes decode into a terminator plan (delimiter, count, none, any_delimiter, length_prefixed, netstring,
// switched inside found_terminator, with bytes given back by framer::unread there), a max_message, a segmentation
// and the stream. The model frames the whole stream at once; the framer gets it in the fuzzer's pieces, then in
// 1-byte reads. Any disagreement (messages, errors, the bytes kept, the final terminator), an empty
// collect_incoming_data, a rule holding max_hold() bytes, or an unexpected exception aborts: a crash to libFuzzer.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include "framing_rules_model.hpp"

using namespace chat_test;
using namespace chat_test::rules_model;

namespace {

// Delimiters that overlap themselves and each other, or a few bytes of the input.
std::string delimiter(FuzzedDataProvider& in) {
    static const std::vector<std::string> known{"\r\n", "\n", "\r\n.\r\n", "aab", "abab", "\r\n\r\n", "\0"s, "b"};
    if (in.ConsumeBool()) return known[in.ConsumeIntegralInRange<std::size_t>(0, known.size() - 1)];
    std::string d = in.ConsumeBytesAsString(in.ConsumeIntegralInRange<std::size_t>(1, 4));
    return d.empty() ? "\n" : d;
}

spec random_spec(FuzzedDataProvider& in) {
    spec s;
    switch (in.ConsumeIntegralInRange(0, 6)) {
    case 0: s.kind = spec::none; break;
    case 1:
        s.kind = spec::delimiter;
        s.delim = delimiter(in);
        break;
    case 2:
        s.kind = spec::counted;
        s.count = in.ConsumeIntegralInRange<std::size_t>(0, 16);
        break;
    case 3:
        s.kind = spec::any;
        for (int n = in.ConsumeIntegralInRange(1, 3); n-- > 0;) s.delims.push_back(delimiter(in));
        break;
    case 4:
    case 5: {
        s.kind = spec::length;
        static constexpr std::size_t sizes[] = {1, 2, 4, 8};
        s.fmt.header_bytes = sizes[in.ConsumeIntegralInRange(0, 3)];
        s.fmt.order = in.ConsumeBool() ? byte_order::big : byte_order::little;
        switch (in.ConsumeIntegralInRange(0, 3)) {
        case 0: s.fmt.length_adjustment = -static_cast<std::int64_t>(s.fmt.header_bytes); break; // counts itself
        case 1: s.fmt.length_adjustment = in.ConsumeIntegralInRange<std::int64_t>(-3, 3); break;
        case 2: s.fmt.length_adjustment = in.ConsumeIntegral<std::int64_t>(); break;             // the extremes
        default: break;
        }
        break;
    }
    default: s.kind = spec::netstring;
    }
    return s;
}

[[noreturn]] void mismatch(const rule_case& c, const std::vector<std::string>& chunks, const run_result& got,
                           const result& want) {
    std::string plan;
    for (const auto& p : c.plan)
        plan += (p.keep ? std::string("keep") : show(p.s.make())) + (p.unread.empty() ? "" : "+unread\"" + escape(p.unread) + "\"") + " ";
    std::string cuts;
    for (const auto& ch : chunks) cuts += std::to_string(ch.size()) + " ";
    std::fprintf(stderr,
                 "framer and model disagree\n  initial=%s plan=[%s] max_message=%zu\n  stream=\"%s\"\n  cuts: %s\n"
                 "  got:  %s err=%s pending=\"%s\" term=%s empty_collects=%zu kept_too_much=%d\n"
                 "  want: %s err=%s pending=\"%s\" term=%s\n",
                 show(c.initial.make()).c_str(), plan.c_str(), c.max_message, escape(c.stream).c_str(), cuts.c_str(),
                 render(got.r.ev).c_str(), name(got.r.err), escape(got.r.pending).c_str(), got.r.final_term.c_str(),
                 got.empty_collects, got.kept_too_much ? 1 : 0, render(want.ev).c_str(), name(want.err),
                 escape(want.pending).c_str(), want.final_term.c_str());
    std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    rule_case c;
    c.initial = random_spec(in);
    for (int n = in.ConsumeIntegralInRange(1, 4); n-- > 0;) {
        plan_entry e;
        e.keep = in.ConsumeIntegralInRange(0, 3) == 0;
        if (!e.keep) e.s = random_spec(in);
        if (in.ConsumeIntegralInRange(0, 3) == 0) e.unread = in.ConsumeRandomLengthString(12);
        c.plan.push_back(std::move(e));
    }
    c.max_message = in.ConsumeBool() ? 0 : in.ConsumeIntegralInRange<std::size_t>(1, 64);
    // The cuts: up to 16 piece sizes (0: an empty read), the last one repeated to the end of the stream.
    std::vector<std::size_t> sizes;
    for (int n = in.ConsumeIntegralInRange(1, 16); n-- > 0;) sizes.push_back(in.ConsumeIntegralInRange<std::size_t>(0, 24));
    c.stream = in.ConsumeRemainingBytesAsString();

    std::vector<std::string> chunks;
    for (std::size_t at = 0, k = 0; at < c.stream.size(); ++k) {
        std::size_t n = sizes[std::min(k, sizes.size() - 1)];
        if (n == 0 && k >= sizes.size() - 1) n = 1; // the repeated size must make progress
        chunks.push_back(c.stream.substr(at, n));
        at += n;
    }

    const result want = model(c);
    const run_result got = run_ours(c, chunks);
    if (!agrees(got, want)) mismatch(c, chunks, got, want);
    const std::vector<std::string> bytes = packets(c.stream, 1);
    const run_result by_byte = run_ours(c, bytes);
    if (!agrees(by_byte, want)) mismatch(c, bytes, by_byte, want);
    return 0;
}
