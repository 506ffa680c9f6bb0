#pragma once

#include "gateway/app.hpp"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace sceau::gateway {

/// The gateway's scheduler: one thread that, every interval, sends the due notices and
/// reminders, expires the letters whose window has ended and delivers the webhooks; and,
/// every audit.checkpoint_interval_seconds, checkpoints the transparency log if it grew. All
/// their state is in the store, so a restart resumes where the last run stopped, and a
/// moment missed while the gateway was down is caught up on the first round.
class worker {
public:
    worker(app& a, std::chrono::seconds interval);
    ~worker();
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;

    void start();
    void stop();

    /// One round, synchronously; what start() runs in a loop.
    void round();

private:
    /// Checkpoints the log if it grew: 1 when a new checkpoint was stored.
    int checkpoint();

    app& app_;
    std::chrono::seconds interval_;
    std::chrono::steady_clock::time_point next_checkpoint_{}; ///< the first round makes one
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

} // namespace sceau::gateway
