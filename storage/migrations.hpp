#pragma once

#include <string_view>
#include <vector>

namespace sceau::storage {

/// One step of the schema. Statements differ per backend only where SQL does.
struct migration {
    int version;
    std::string_view description;
    std::vector<std::string_view> sqlite;
    std::vector<std::string_view> postgresql;
};

/// Every migration, in order. Append only: a released migration never changes.
const std::vector<migration>& migrations();

} // namespace sceau::storage
