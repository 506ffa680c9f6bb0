#include "gateway/metrics.hpp"

#include "crypto/xml.hpp"

#include <charconv>

namespace sceau::gateway {
namespace {

/// A label value as the text format wants it: backslash, quote and line feed escaped.
std::string label(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\' || c == '"')
            out += {'\\', c};
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

/// The shortest text that reads back as `v`: 0.005, not 0.0050000000000000001.
std::string number(double v) {
    char text[32];
    auto end = std::to_chars(text, text + sizeof text, v).ptr;
    return std::string(text, end);
}

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void sample(std::string& out, std::string_view name, std::string_view labels,
            std::string_view value) {
    out.append(name);
    if (!labels.empty())
        out.append("{").append(labels).append("}");
    out.append(" ").append(value).append("\n");
}

/// The method as a label: the methods of HTTP, or "other", so that a client inventing
/// methods cannot make series without end.
std::string_view method_label(std::string_view method) {
    for (std::string_view known : {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
        if (method == known)
            return known;
    }
    return "other";
}

} // namespace

metrics::metrics(std::vector<std::pair<std::string, std::string>> build, bool qualified,
                 figures_source figures, std::chrono::steady_clock::duration refresh)
    : build_(std::move(build))
    , qualified_(qualified)
    , figures_(std::move(figures))
    , refresh_(refresh) {}

void metrics::count_request(std::string_view method, std::string_view route, unsigned status,
                            std::chrono::microseconds took) {
    double seconds = static_cast<double>(took.count()) / 1e6;
    std::lock_guard lock(mutex_);
    ++requests_[{std::string(method_label(method)), std::string(route), status}];
    auto it = durations_.find(route);
    if (it == durations_.end())
        it = durations_.emplace(std::string(route), durations{}).first;
    auto& d = it->second;
    for (std::size_t i = 0; i < buckets.size(); ++i) {
        if (seconds <= buckets[i]) {
            ++d.le[i];
            break;
        }
    }
    ++d.count;
    d.sum += seconds;
}

std::string metrics::render() {
    storage::operational_figures f;
    {
        std::lock_guard lock(figures_mutex_);
        auto now = std::chrono::steady_clock::now();
        if (!have_cache_ || now - cached_at_ >= refresh_) {
            cached_ = figures_();
            cached_at_ = now;
            have_cache_ = true;
        }
        f = cached_;
    }

    std::string out;
    family(out, "sceau_build_info", "gauge", "The gateway's version and its libraries'.");
    std::string build;
    for (const auto& [name, value] : build_)
        build += (build.empty() ? "" : ",") + name + "=\"" + label(value) + "\"";
    sample(out, "sceau_build_info", build, "1");
    family(out, "sceau_qualified", "gauge",
           "1 when the evidence is sealed with the provider's keys, 0 on the sample keys.");
    sample(out, "sceau_qualified", "", qualified_ ? "1" : "0");

    {
        std::lock_guard lock(mutex_);
        family(out, "sceau_http_requests_total", "counter",
               "Requests answered, by method, route pattern and status.");
        for (const auto& [key, n] : requests_) {
            const auto& [method, route, status] = key;
            sample(out, "sceau_http_requests_total",
                   "method=\"" + label(method) + "\",route=\"" + label(route) + "\",status=\"" +
                       std::to_string(status) + "\"",
                   std::to_string(n));
        }
        family(out, "sceau_http_request_duration_seconds", "histogram",
               "Time from the request's first byte read to its answer written, by route.");
        for (const auto& [route, d] : durations_) {
            auto r = "route=\"" + label(route) + "\"";
            std::uint64_t below = 0;
            for (std::size_t i = 0; i < buckets.size(); ++i) {
                below += d.le[i];
                sample(out, "sceau_http_request_duration_seconds_bucket",
                       r + ",le=\"" + number(buckets[i]) + "\"", std::to_string(below));
            }
            sample(out, "sceau_http_request_duration_seconds_bucket", r + ",le=\"+Inf\"",
                   std::to_string(d.count));
            sample(out, "sceau_http_request_duration_seconds_sum", r, number(d.sum));
            sample(out, "sceau_http_request_duration_seconds_count", r, std::to_string(d.count));
        }
    }

    family(out, "sceau_letters", "gauge", "Letters in the store, by status.");
    for (const auto& [status, n] : f.letters_by_status)
        sample(out, "sceau_letters", "status=\"" + label(status) + "\"", std::to_string(n));
    family(out, "sceau_letters_overdue", "gauge",
           "Letters still waiting for the recipient a day after their deadline: the expiry "
           "should have been recorded.");
    sample(out, "sceau_letters_overdue", "", std::to_string(f.letters_overdue));
    family(out, "sceau_queue_pending", "gauge", "Mails and webhook deliveries not yet done.");
    sample(out, "sceau_queue_pending", "queue=\"mail\"", std::to_string(f.mail_pending));
    sample(out, "sceau_queue_pending", "queue=\"webhook\"", std::to_string(f.webhooks_pending));
    family(out, "sceau_queue_due", "gauge",
           "Of those, the ones whose next attempt is due: a backlog when it stays above 0.");
    sample(out, "sceau_queue_due", "queue=\"mail\"", std::to_string(f.mail_due));
    sample(out, "sceau_queue_due", "queue=\"webhook\"", std::to_string(f.webhooks_due));
    family(out, "sceau_log_entries", "gauge", "Evidence records in the transparency log.");
    sample(out, "sceau_log_entries", "", std::to_string(f.log_entries));
    family(out, "sceau_log_checkpoint_entries", "gauge",
           "Tree size of the latest checkpoint; 0 before the first.");
    sample(out, "sceau_log_checkpoint_entries", "", std::to_string(f.checkpoint_tree_size));
    if (!f.checkpoint_stamped_at.empty()) {
        auto at = crypto::parse_utc(f.checkpoint_stamped_at);
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch());
        family(out, "sceau_log_checkpoint_timestamp_seconds", "gauge",
               "Time-stamp of the latest checkpoint, in seconds since the epoch.");
        sample(out, "sceau_log_checkpoint_timestamp_seconds", "",
               number(static_cast<double>(ms.count()) / 1000.0));
    }
    return out;
}

} // namespace sceau::gateway
