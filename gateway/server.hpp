#pragma once

#include "gateway/app.hpp"

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

namespace sceau::gateway {

/// The HTTP/1.1 server: an acceptor and one coroutine per connection on a pool of
/// threads. Requests are read with limits on header size, body size and time; the
/// deposit body is streamed, everything else is small.
class server {
public:
    server(app& a, const config& cfg);
    ~server();

    /// Binds the listening socket; afterwards port() is known (useful with port 0).
    void bind();
    unsigned short port() const;

    /// Serves until stop() or SIGINT/SIGTERM.
    void run();
    void stop();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace sceau::gateway
