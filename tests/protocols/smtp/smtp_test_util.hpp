#pragma once
// What the SMTP suites share: a server that records (or holds) the messages it is given, and a client played by
// string_transport.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <asynchat/smtp/server.hpp>
#include <asynchat/string_transport.hpp>

#include "chat_test_util.hpp"

namespace smtp_test {

using chat_test::escape;

// Records every message; completes at once with `reply`, or holds the completions when `hold` is set.
struct recording_server : asynchat::smtp::smtp_server {
    using smtp_server::smtp_server;
    std::vector<asynchat::smtp::envelope> messages;
    std::vector<asynchat::smtp::delivery_completion> held;
    std::string reply = "250 OK";
    bool hold = false;
    void handle_DATA(asynchat::smtp::smtp_channel&, asynchat::smtp::envelope& message,
                     asynchat::smtp::delivery_completion done) override {
        messages.push_back(std::move(message));
        if (hold)
            held.push_back(done);
        else
            done(reply);
    }
};

// One connection: the channel and the transport that plays its client, greeting drained.
struct client {
    asynchat::smtp::smtp_channel channel;
    asynchat::string_transport wire{channel};
    explicit client(asynchat::smtp::smtp_server& server) : channel(server) {
        channel.start();
        wire.written();
    }
    // What the server sent since the last call, escaped for readable failures.
    std::string got() { return escape(wire.written()); }
    void says(std::string_view bytes, std::size_t segment = 0) { wire.receive(bytes, segment); }
    std::string exchange(std::string_view bytes, std::size_t segment = 0) {
        says(bytes, segment);
        return got();
    }
};

inline std::string replies(std::initializer_list<std::string_view> lines) {
    std::string out;
    for (auto l : lines) out.append(l).append("\\r\\n");
    return out;
}

} // namespace smtp_test
