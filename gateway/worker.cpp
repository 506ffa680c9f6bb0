#include "gateway/worker.hpp"

#include "gateway/logging.hpp"

namespace sceau::gateway {
namespace {

/// Runs one kind of job; a failure is logged and never stops the other kinds.
template <typename Job>
void guarded(const char* what, Job&& job) {
    try {
        int n = job();
        if (n > 0)
            log_event(log_level::debug, "worker", {{"job", what}, {"handled", std::to_string(n)}});
    } catch (const std::exception& e) {
        log_event(log_level::error, "worker-error", {{"job", what}, {"error", e.what()}});
    }
}

} // namespace

int worker::checkpoint() {
    auto before = app_.db().latest_checkpoint();
    auto after = app_.checkpoints().checkpoint_now();
    if (!after || (before && before->tree_size == after->tree_size))
        return 0;
    log_event(log_level::info, "checkpoint", {{"tree_size", std::to_string(after->tree_size)}});
    return 1;
}

worker::worker(app& a, std::chrono::seconds interval)
    : app_(a)
    , interval_(std::max(interval, std::chrono::seconds(1))) {}

worker::~worker() {
    stop();
}

void worker::round() {
    guarded("notifications", [this] { return app_.notifications().run_once(); });
    guarded("expiry", [this] { return app_.letters().expire_due(); });
    guarded("sessions", [this] { return app_.recipients().sweep_sessions(); });
    guarded("webhooks", [this] { return app_.webhooks().run_once(); });
    guarded("retention",
            [this] { return app_.retention().purge_due(app_.settings().retention.purge_batch); });

    auto now = std::chrono::steady_clock::now();
    if (now >= next_checkpoint_) {
        next_checkpoint_ = now + app_.settings().audit.checkpoint_interval;
        guarded("checkpoint", [this] { return checkpoint(); });
    }
}

void worker::start() {
    thread_ = std::thread([this] {
        std::unique_lock lock(mutex_);
        while (!stopping_) {
            lock.unlock();
            round();
            lock.lock();
            wake_.wait_for(lock, interval_, [this] { return stopping_; });
        }
    });
}

void worker::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable())
        thread_.join();
}

} // namespace sceau::gateway
