#pragma once

#include "gateway/app.hpp"
#include "gateway/problem.hpp"
#include "gateway/router.hpp"
#include "protocols/html.hpp"

#include <boost/beast/http/message.hpp>

#include <filesystem>
#include <optional>
#include <string>

namespace sceau::gateway {

struct request_context;

/// A document to stream to the recipient instead of a page.
struct file_download {
    std::filesystem::path path;
    std::string name;
    std::string media_type;
    bool temporary = false; ///< made for this answer: removed once opened for sending
};

/// The recipient's pages under /r/{token}: server-rendered HTML in French and English,
/// without JavaScript. Before acceptance they show the provider, the deadline and how to
/// identify, and nothing of the sender, the subject or the reference; unknown, used and
/// expired links all get the same page. Answers with a page, or fills `download`.
response handle_recipient(app& a, const route_match& m,
                          const boost::beast::http::request_header<>& request,
                          std::string_view query, const std::string& body, request_context& ctx,
                          std::optional<file_download>& download);

/// The page for a request to the recipient's pages with a body over its limit (413):
/// nothing was read, recorded or opened.
response too_large_page(app& a, const boost::beast::http::request_header<>& request,
                        std::string_view query);

/// Text made safe for HTML content and for quoted attribute values.
using protocols::html_escape;

/// An HTML answer with the headers of the recipient's pages: a content security policy
/// that allows no script and posts to this origin only, no referrer, no framing.
response html_page(unsigned version, unsigned status, std::string html);

/// A Content-Disposition value for a download: an ASCII fallback name and the UTF-8 name
/// (RFC 6266, RFC 8187).
std::string attachment_disposition(std::string_view name);

/// The stylesheet of the recipient's pages (served from the gateway: the pages' content
/// security policy allows no inline style).
std::string_view recipient_stylesheet();

} // namespace sceau::gateway
