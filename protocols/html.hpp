#pragma once

#include <string>
#include <string_view>

namespace sceau::protocols {

/// Text made safe for HTML element content and quoted attribute values.
std::string html_escape(std::string_view s);

} // namespace sceau::protocols
