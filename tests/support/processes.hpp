#pragma once
// The children of a process, read from /proc, for the tests of the PDF checking processes.

#include <filesystem>
#include <fstream>
#include <string>
#include <sys/types.h>
#include <vector>

namespace sceau::test {

struct process_state {
    pid_t pid = -1;
    char state = '?'; ///< as /proc/PID/stat says: R, S, D, Z (a zombie, not reaped)...
};

/// The processes whose parent is `parent`, zombies included.
inline std::vector<process_state> children_of(pid_t parent) {
    std::vector<process_state> out;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
        const auto name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos)
            continue;
        std::ifstream in(entry.path() / "stat");
        std::string stat;
        std::getline(in, stat);
        // PID (COMM) STATE PPID ...: COMM may hold spaces and parentheses, not the last ')'.
        auto close = stat.rfind(')');
        if (close == std::string::npos || close + 4 > stat.size())
            continue;
        char state = stat[close + 2];
        pid_t ppid = static_cast<pid_t>(std::stol(stat.substr(close + 4)));
        if (ppid == parent)
            out.push_back({static_cast<pid_t>(std::stol(name)), state});
    }
    return out;
}

/// Whether `pid` is a child of `parent` that has not been reaped.
inline bool is_child_of(pid_t pid, pid_t parent) {
    for (const auto& child : children_of(parent)) {
        if (child.pid == pid)
            return true;
    }
    return false;
}

} // namespace sceau::test
