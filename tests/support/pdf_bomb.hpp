#pragma once
// A PDF that costs its check gigabytes and seconds, for the tests of the check's bounds.

#include <cstdio>
#include <string>
#include <vector>

namespace sceau::test {

/// A valid one-page PDF whose page tree names that page `kids` times: a few bytes per
/// reference, but qpdf makes a copy of the page for each (about 3 KB of memory apiece).
inline std::string page_named_many_times(std::size_t kids) {
    std::string out = "%PDF-1.7\n";
    std::vector<std::size_t> offsets;
    auto object = [&](const std::string& body) {
        offsets.push_back(out.size());
        out += std::to_string(offsets.size()) + " 0 obj\n" + body + "\nendobj\n";
    };
    object("<< /Type /Catalog /Pages 2 0 R >>");
    std::string pages = "<< /Type /Pages /Count " + std::to_string(kids) + " /Kids [";
    for (std::size_t i = 0; i < kids; ++i)
        pages += "3 0 R ";
    object(pages + "] >>");
    object("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>");
    auto xref = out.size();
    out += "xref\n0 4\n0000000000 65535 f \n";
    for (auto at : offsets) {
        char line[32];
        std::snprintf(line, sizeof line, "%010zu 00000 n \n", at);
        out += line;
    }
    return out + "trailer\n<< /Size 4 /Root 1 0 R >>\nstartxref\n" + std::to_string(xref) +
           "\n%%EOF\n";
}

} // namespace sceau::test
