#include "storage/blob_store.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <random>
#include <stdexcept>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace sceau::storage {
namespace {

[[noreturn]] void throw_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

void sync_directory(const std::filesystem::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        throw_errno("opening directory for sync");
    int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0)
        throw_errno("syncing directory");
}

bool valid_digest(const std::string& s) {
    if (s.size() != 64)
        return false;
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

std::string temporary_name() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char hex[] = "0123456789abcdef";
    std::string name = "upload-";
    for (int i = 0; i < 16; ++i)
        name.push_back(hex[rng() & 15]);
    return name;
}

} // namespace

blob_store::blob_store(std::filesystem::path root)
    : root_(std::move(root)) {
    std::filesystem::create_directories(root_ / "tmp");
    std::filesystem::create_directories(root_ / "sha256");
}

blob_store::writer::writer(std::filesystem::path path, int fd)
    : path_(std::move(path))
    , fd_(fd) {}

blob_store::writer::writer(writer&& o) noexcept
    : path_(std::move(o.path_))
    , fd_(std::exchange(o.fd_, -1))
    , size_(o.size_)
    , published_(std::exchange(o.published_, true)) {}

blob_store::writer::~writer() {
    if (fd_ >= 0)
        ::close(fd_);
    if (!published_ && !path_.empty()) {
        std::error_code ignored;
        std::filesystem::remove(path_, ignored);
    }
}

void blob_store::writer::write(std::span<const char> data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd_, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw_errno("writing an upload");
        }
        data = data.subspan(static_cast<std::size_t>(n));
        size_ += static_cast<std::uint64_t>(n);
    }
}

void blob_store::writer::close() {
    if (fd_ < 0)
        return;
    if (::fsync(fd_) != 0)
        throw_errno("syncing an upload");
    ::close(fd_);
    fd_ = -1;
}

blob_store::writer blob_store::create() {
    for (int attempt = 0; attempt < 8; ++attempt) {
        auto path = root_ / "tmp" / temporary_name();
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0)
            return writer(path, fd);
        if (errno != EEXIST)
            throw_errno("creating an upload file");
    }
    throw std::runtime_error("could not create an upload file");
}

std::filesystem::path blob_store::scratch_path(std::string_view suffix) const {
    return root_ / "tmp" / (temporary_name() + std::string(suffix));
}

std::filesystem::path blob_store::path_of(const std::string& sha256) const {
    if (!valid_digest(sha256))
        throw std::invalid_argument("not a SHA-256 hex digest");
    return root_ / "sha256" / sha256.substr(0, 2) / sha256;
}

bool blob_store::exists(const std::string& sha256) const {
    return std::filesystem::exists(path_of(sha256));
}

void blob_store::publish(writer& w, const std::string& sha256) {
    w.close();
    auto target = path_of(sha256);
    auto dir = target.parent_path();
    std::filesystem::create_directories(dir);

    // Counted in flight before the file appears, so that no failing deposit removes it
    // under another; the rename and the syncs need no lock (same name, same bytes).
    {
        std::lock_guard lock(mutex_);
        ++in_flight_[sha256];
    }
    try {
        if (std::filesystem::exists(target)) {
            std::error_code ignored;
            std::filesystem::remove(w.path_, ignored); // content addressing: already at rest
        } else {
            if (::rename(w.path_.c_str(), target.c_str()) != 0)
                throw_errno("publishing a document");
            sync_directory(dir);
        }
    } catch (...) {
        std::lock_guard lock(mutex_);
        if (--in_flight_[sha256] == 0)
            in_flight_.erase(sha256);
        throw;
    }
    w.published_ = true;
}

void blob_store::release(const std::string& sha256, bool committed, bool still_referenced) {
    std::lock_guard lock(mutex_);
    auto it = in_flight_.find(sha256);
    if (it == in_flight_.end())
        return;
    if (--it->second > 0)
        return;
    in_flight_.erase(it);
    if (!committed && !still_referenced) {
        std::error_code ignored;
        std::filesystem::remove(path_of(sha256), ignored);
    }
}

std::vector<std::string> blob_store::stored_digests() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& dir : std::filesystem::directory_iterator(root_ / "sha256", ec)) {
        std::error_code inner;
        for (const auto& file : std::filesystem::directory_iterator(dir.path(), inner)) {
            if (file.is_regular_file())
                out.push_back(file.path().filename().string());
        }
    }
    return out;
}

void blob_store::sweep_temporary(std::chrono::seconds idle) {
    auto before = std::filesystem::file_time_type::clock::now() - idle;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(root_ / "tmp", ec)) {
        std::error_code ignored;
        auto written = entry.last_write_time(ignored);
        if (!ignored && written < before)
            std::filesystem::remove(entry.path(), ignored);
    }
}

} // namespace sceau::storage
