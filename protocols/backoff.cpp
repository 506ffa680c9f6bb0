#include "protocols/backoff.hpp"

#include <algorithm>
#include <random>

namespace sceau::protocols {

std::chrono::seconds backoff_delay(std::chrono::seconds first, int attempts,
                                   std::chrono::seconds longest) {
    auto doublings = std::clamp(attempts - 1, 0, 30);
    auto delay = std::min<std::chrono::seconds>(first * (1LL << doublings), longest);
    thread_local std::mt19937_64 jitter{std::random_device{}()};
    std::uniform_int_distribution<long long> extra(0, delay.count() / 10);
    return delay + std::chrono::seconds(extra(jitter));
}

} // namespace sceau::protocols
