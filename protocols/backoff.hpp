#pragma once

#include <chrono>

namespace sceau::protocols {

/// The wait before the next try of a durable queue entry (mail, webhook) after `attempts`
/// failed tries: `first`, doubling with each try up to `longest`, plus up to a tenth more
/// at random so that many entries failing together do not retry together.
std::chrono::seconds backoff_delay(std::chrono::seconds first, int attempts,
                                   std::chrono::seconds longest);

} // namespace sceau::protocols
