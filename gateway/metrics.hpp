#pragma once

#include "storage/records.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace sceau::gateway {

/// What `GET /metrics` shows, in the Prometheus text format (version 0.0.4): the requests
/// served by route pattern and status, their durations, and figures of the store. Labels
/// are route patterns, methods and statuses only, never an id, a name or an address, so
/// the series stay few and reveal nothing of any letter.
class metrics {
public:
    /// Reads the store's figures as they are now; called at most once per `refresh`,
    /// whatever the rate of scrapes, so that scraping cannot load the database.
    using figures_source = std::function<storage::operational_figures()>;

    /// `build` holds name/value pairs shown as labels of sceau_build_info (the version
    /// and those of the libraries).
    metrics(std::vector<std::pair<std::string, std::string>> build, bool qualified,
            figures_source figures,
            std::chrono::steady_clock::duration refresh = std::chrono::seconds(5));

    /// Counts one answered request. `route` is the matched pattern or "-"; a method that is
    /// not one of HTTP's is counted as "other".
    void count_request(std::string_view method, std::string_view route, unsigned status,
                       std::chrono::microseconds took);

    /// The whole exposition. Throws what the figures source throws.
    std::string render();

    /// Upper bounds, in seconds, of the request duration histogram's buckets.
    static constexpr std::array<double, 11> buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                       0.5,   1.0,  2.5,   5.0,  10.0};

private:
    struct durations {
        std::array<std::uint64_t, buckets.size()> le{}; ///< not cumulative
        std::uint64_t count = 0;
        double sum = 0;
    };

    std::vector<std::pair<std::string, std::string>> build_;
    bool qualified_;
    figures_source figures_;
    std::chrono::steady_clock::duration refresh_;

    std::mutex mutex_;
    std::map<std::tuple<std::string, std::string, unsigned>, std::uint64_t> requests_;
    std::map<std::string, durations, std::less<>> durations_;
    storage::operational_figures cached_;
    std::chrono::steady_clock::time_point cached_at_{};
    bool have_cache_ = false;
    std::mutex figures_mutex_;
};

} // namespace sceau::gateway
