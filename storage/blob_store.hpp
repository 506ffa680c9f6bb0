#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace sceau::storage {

/// Document bytes at rest, content-addressed by SHA-256 in a directory:
/// `ROOT/sha256/ab/abcdef...`. The caller computes the digest while it streams; the
/// store never reads a file name from the outside world.
class blob_store {
public:
    explicit blob_store(std::filesystem::path root);

    /// A file being written in `ROOT/tmp`, removed on destruction unless published.
    class writer {
    public:
        writer(writer&&) noexcept;
        writer& operator=(writer&&) = delete;
        ~writer();

        void write(std::span<const char> data);
        std::uint64_t size() const noexcept { return size_; }
        const std::filesystem::path& path() const noexcept { return path_; }

        /// Flushes to disk; no more writes.
        void close();

    private:
        friend class blob_store;
        writer(std::filesystem::path path, int fd);

        std::filesystem::path path_;
        int fd_ = -1;
        std::uint64_t size_ = 0;
        bool published_ = false;
    };

    writer create();

    /// Moves a closed writer's file to its content address, durably. The digest is the
    /// caller's; `sha256` must be 64 lower-case hex digits.
    /// Until release() is called for it, the blob is never removed by discard().
    void publish(writer& w, const std::string& sha256);

    /// Called once per publish() when the deposit that published ends. With
    /// `committed` false and no other deposit holding the blob and `still_referenced`
    /// false, the file is removed, so that a failed deposit leaves nothing behind.
    void release(const std::string& sha256, bool committed, bool still_referenced);

    std::filesystem::path path_of(const std::string& sha256) const;

    /// A fresh name in `ROOT/tmp` for a file made on the way out (a proof bundle); the
    /// caller creates and removes it, and sweep_temporary() removes what a crash left.
    std::filesystem::path scratch_path(std::string_view suffix) const;
    bool exists(const std::string& sha256) const;

    /// The digests of every file at rest, by their names (for an audit).
    std::vector<std::string> stored_digests() const;

    /// Removes leftovers of writers that a crash interrupted: temporary files not written
    /// to for `idle`. A writer still in use, of another instance sharing the directory,
    /// is written to more often than that and stays.
    void sweep_temporary(std::chrono::seconds idle);

private:
    std::filesystem::path root_;
    std::mutex mutex_;
    std::map<std::string, int> in_flight_; ///< published by deposits not yet finished
};

} // namespace sceau::storage
