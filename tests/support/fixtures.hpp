#pragma once
// Helpers shared by the tests: fixture paths, the sample PKI, running external tools.

#include "crypto/certificate.hpp"

#include <cstdio>
#include <filesystem>
#include <string>

namespace sceau::test {

inline std::filesystem::path source_path(const std::string& relative) {
    return std::filesystem::path(SCEAU_SOURCE_DIR) / relative;
}

inline std::string read_file(const std::filesystem::path& path) {
    return crypto::read_small_file(path, 512u << 20);
}

inline void write_file(const std::filesystem::path& path, std::string_view data) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f)
        throw std::runtime_error("cannot write " + path.string());
    std::fwrite(data.data(), 1, data.size(), f);
    std::fclose(f);
}

inline crypto::signer_identity sample_identity(const std::string& name) {
    return crypto::signer_identity::from_pem(
        read_file(source_path("certs-sample/" + name + ".key")),
        read_file(source_path("certs-sample/" + name + ".pem")) +
            read_file(source_path("certs-sample/root-ca.pem")));
}

struct command_result {
    int status = -1;
    std::string output; ///< standard output and standard error together
};

/// Runs a shell command and collects what it prints.
inline command_result run(const std::string& command) {
    command_result r;
    std::FILE* p = ::popen((command + " 2>&1").c_str(), "r");
    if (!p)
        return r;
    char buffer[4096];
    while (std::size_t n = std::fread(buffer, 1, sizeof buffer, p))
        r.output.append(buffer, n);
    int status = ::pclose(p);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

/// A directory removed with everything in it when the test ends.
class temp_dir {
public:
    temp_dir() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "sceau-test-XXXXXX").string();
        if (!::mkdtemp(pattern.data()))
            throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    ~temp_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

} // namespace sceau::test
