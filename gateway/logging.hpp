#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sceau::gateway {

/// Sets up the process logger on standard error: `text` (key=value) or `json` lines,
/// UTC times, at `level` (trace, debug, info, warn, error).
void setup_logging(const std::string& level, const std::string& format);

enum class log_level { debug, info, warn, error };

using log_field = std::pair<std::string_view, std::string>;

/// One structured line: an event name and fields. Values are quoted or escaped as the
/// format needs. Never pass a key, a token, an API key or document content.
void log_event(log_level level, std::string_view event, std::initializer_list<log_field> fields);
void log_event(log_level level, std::string_view event, const std::vector<log_field>& fields);

/// The versions of the libraries evidence depends on, as linked at run time where the
/// library can tell: OpenSSL, libxml2, xmlsec1, SQLite.
std::vector<log_field> library_versions();

} // namespace sceau::gateway
