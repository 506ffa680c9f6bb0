#include "crypto/byte_source.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <unistd.h>

namespace sceau::crypto {
namespace {

class memory final : public byte_source {
public:
    explicit memory(const std::string& data)
        : data_(data) {}

    std::size_t read(std::uint8_t* out, std::size_t size) override {
        std::size_t n = std::min(size, data_.size() - at_);
        std::memcpy(out, data_.data() + at_, n);
        at_ += n;
        return n;
    }

private:
    const std::string& data_;
    std::size_t at_ = 0;
};

class file final : public byte_source {
public:
    explicit file(const std::filesystem::path& path)
        : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
        if (fd_ < 0)
            throw std::runtime_error("cannot open " + path.filename().string() + ": " +
                                     std::strerror(errno));
    }
    ~file() override { ::close(fd_); }
    file(const file&) = delete;
    file& operator=(const file&) = delete;

    std::size_t read(std::uint8_t* out, std::size_t size) override {
        for (;;) {
            ssize_t n = ::read(fd_, out, size);
            if (n >= 0)
                return static_cast<std::size_t>(n);
            if (errno != EINTR)
                throw std::runtime_error(std::string("reading a file: ") + std::strerror(errno));
        }
    }

private:
    int fd_;
};

} // namespace

std::unique_ptr<byte_source> memory_source(const std::string& data) {
    return std::make_unique<memory>(data);
}

std::unique_ptr<byte_source> file_source(const std::filesystem::path& path) {
    return std::make_unique<file>(path);
}

} // namespace sceau::crypto
