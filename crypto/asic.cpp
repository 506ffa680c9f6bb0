#include "crypto/asic.hpp"

#include "crypto/error.hpp"
#include "crypto/xml.hpp"

#include <zip.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <unistd.h>

namespace sceau::crypto {
namespace {

[[noreturn]] void refuse(errc code, const std::string& what) {
    throw error(code, what);
}

/// A name as messages may show it: printable ASCII, the rest escaped, not too long.
std::string shown(std::string_view name) {
    std::string out;
    for (unsigned char c : name.substr(0, 120)) {
        if (c >= 0x20 && c < 0x7f) {
            out.push_back(static_cast<char>(c));
        } else {
            char hex[5];
            std::snprintf(hex, sizeof hex, "\\x%02x", c);
            out += hex;
        }
    }
    if (name.size() > 120)
        out += "...";
    return "\"" + out + "\"";
}

bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = c < 0x80         ? 1
                        : (c >> 5) == 6  ? 2
                        : (c >> 4) == 14 ? 3
                        : (c >> 3) == 30 ? 4
                                         : 0;
        if (n == 0 || i + n > s.size())
            return false;
        std::uint32_t cp = n == 1 ? c : c & (0x7f >> n);
        for (std::size_t k = 1; k < n; ++k) {
            auto d = static_cast<unsigned char>(s[i + k]);
            if ((d >> 6) != 2)
                return false;
            cp = (cp << 6) | (d & 0x3f);
        }
        // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
        static constexpr std::uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < least[n] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return false;
        i += n;
    }
    return true;
}

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

std::string zip_message(zip_error_t* e) {
    std::string out = zip_error_strerror(e);
    zip_error_fini(e);
    return out;
}

std::string archive_message(zip_t* z) {
    return zip_error_strerror(zip_get_error(z));
}

class entry_stream final : public byte_source {
public:
    entry_stream(zip_file_t* file, std::uint64_t size, std::string name)
        : file_(file)
        , left_(size)
        , name_(std::move(name)) {}
    ~entry_stream() override { zip_fclose(file_); }
    entry_stream(const entry_stream&) = delete;
    entry_stream& operator=(const entry_stream&) = delete;

    std::size_t read(std::uint8_t* out, std::size_t size) override {
        // One byte more than announced is asked for, so that a liar is caught.
        std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(size, left_ + 1));
        zip_int64_t n = zip_fread(file_, out, want);
        if (n < 0)
            refuse(errc::container_malformed, "entry " + shown(name_) + " is damaged: " +
                                                  std::string(zip_file_strerror(file_)));
        if (static_cast<std::uint64_t>(n) > left_)
            refuse(errc::container_malformed,
                   "entry " + shown(name_) + " holds more than its announced size");
        left_ -= static_cast<std::uint64_t>(n);
        if (n == 0 && left_ != 0)
            refuse(errc::container_malformed,
                   "entry " + shown(name_) + " ends before its announced size");
        return static_cast<std::size_t>(n);
    }

private:
    zip_file_t* file_; ///< owned
    std::uint64_t left_;
    std::string name_;
};

std::string manifest_xml(const std::vector<std::pair<std::string, std::string>>& files) {
    xml_doc_ptr doc(xmlNewDoc(reinterpret_cast<const xmlChar*>("1.0")));
    xmlNode* root =
        xmlNewDocNode(doc.get(), nullptr, reinterpret_cast<const xmlChar*>("manifest"), nullptr);
    xmlDocSetRootElement(doc.get(), root);
    std::string ns(asic::manifest_ns);
    xmlNs* m = xmlNewNs(root, reinterpret_cast<const xmlChar*>(ns.c_str()),
                        reinterpret_cast<const xmlChar*>("manifest"));
    xmlSetNs(root, m);
    auto set = [m](xmlNode* n, const char* name, const std::string& value) {
        xmlSetNsProp(n, m, reinterpret_cast<const xmlChar*>(name),
                     reinterpret_cast<const xmlChar*>(value.c_str()));
    };
    set(root, "version", "1.2");
    xmlNode* whole = add_element(root, m, "file-entry");
    set(whole, "full-path", "/");
    set(whole, "media-type", std::string(asic::mime_type));
    for (const auto& [path, type] : files) {
        xmlNode* e = add_element(root, m, "file-entry");
        set(e, "full-path", path);
        set(e, "media-type", type);
    }
    return serialize(doc.get());
}

} // namespace

std::optional<std::string> entry_name_problem(std::string_view name, std::size_t max_bytes) {
    if (name.empty())
        return "an empty name";
    if (name.size() > max_bytes)
        return "a name longer than " + std::to_string(max_bytes) + " bytes";
    if (name.front() == '/' || (name.size() >= 2 && name[1] == ':'))
        return "an absolute path";
    if (name.find('\\') != std::string_view::npos)
        return "a backslash in the name";
    for (unsigned char c : name) {
        if (c < 0x20 || c == 0x7f)
            return "a control character in the name";
    }
    if (!valid_utf8(name))
        return "a name that is not UTF-8";
    std::size_t start = 0;
    while (start <= name.size()) {
        auto slash = name.find('/', start);
        if (slash == std::string_view::npos)
            slash = name.size();
        auto segment = name.substr(start, slash - start);
        if (segment == "..")
            return "a path that climbs out with ..";
        if (segment == ".")
            return "a . segment in the path";
        if (segment.empty() && slash != name.size())
            return "an empty segment in the path";
        start = slash + 1;
    }
    return std::nullopt;
}

// Writer

asic_writer::asic_writer(std::filesystem::path path)
    : path_(std::move(path)) {}

asic_writer::~asic_writer() = default;

void asic_writer::check_new(const std::string& name) const {
    if (finished_)
        refuse(errc::container_entry_refused, "the container is already written");
    if (auto problem = entry_name_problem(name))
        refuse(errc::container_entry_refused, "entry " + shown(name) + ": " + *problem);
    auto key = ascii_lower(name);
    bool taken = key == asic::mimetype_entry || key == ascii_lower(asic::signature_entry) ||
                 std::any_of(entries_.begin(), entries_.end(),
                             [&](const entry& e) { return ascii_lower(e.name) == key; });
    if (taken)
        refuse(errc::container_entry_refused, "entry " + shown(name) + " is already there");
}

void asic_writer::add(const std::string& name, std::string data, const std::string& media_type) {
    check_new(name);
    entries_.push_back({name, media_type, std::make_unique<std::string>(std::move(data)), {}});
}

void asic_writer::add_file(const std::string& name, const std::filesystem::path& file,
                           const std::string& media_type) {
    check_new(name);
    entries_.push_back({name, media_type, nullptr, file});
}

void asic_writer::add_manifest() {
    std::vector<std::pair<std::string, std::string>> files;
    for (const auto& e : entries_)
        files.emplace_back(e.name, e.media_type);
    add(std::string(asic::manifest_entry), manifest_xml(files), "text/xml");
}

std::vector<detached_object> asic_writer::objects() const {
    std::vector<detached_object> out;
    for (const auto& e : entries_) {
        source_opener open;
        if (e.data)
            open = [data = e.data.get()] { return memory_source(*data); };
        else
            open = [file = e.file] { return file_source(file); };
        out.push_back({e.name, e.media_type, std::move(open)});
    }
    return out;
}

void asic_writer::finish(std::string signatures_xml) {
    if (finished_)
        refuse(errc::container_entry_refused, "the container is already written");
    entries_.push_back({std::string(asic::signature_entry),
                        "text/xml",
                        std::make_unique<std::string>(std::move(signatures_xml)),
                        {}});

    int code = 0;
    zip_t* z = zip_open(path_.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
    if (!z) {
        zip_error_t e;
        zip_error_init_with_code(&e, code);
        refuse(errc::container_malformed, "creating the container: " + zip_message(&e));
    }
    auto fail = [&](const std::string& what) {
        std::string message = what + ": " + archive_message(z);
        zip_discard(z); // nothing is written
        refuse(errc::container_malformed, message);
    };

    // EN 319 162-1 A.1: "mimetype" first, stored, so that its bytes sit at offset 38.
    static const std::string mime(asic::mime_type);
    zip_source_t* mime_source = zip_source_buffer(z, mime.data(), mime.size(), 0);
    zip_int64_t at = mime_source ? zip_file_add(z, "mimetype", mime_source, ZIP_FL_ENC_UTF_8) : -1;
    if (at < 0) {
        zip_source_free(mime_source);
        fail("adding mimetype");
    }
    if (zip_set_file_compression(z, static_cast<zip_uint64_t>(at), ZIP_CM_STORE, 0) < 0)
        fail("storing mimetype");

    for (const auto& e : entries_) {
        // The source reads the buffer or the file only when zip_close writes the archive.
        zip_source_t* source = e.data ? zip_source_buffer(z, e.data->data(), e.data->size(), 0)
                                      : zip_source_file(z, e.file.c_str(), 0, -1);
        if (!source)
            fail("reading " + shown(e.name));
        zip_int64_t index = zip_file_add(z, e.name.c_str(), source, ZIP_FL_ENC_UTF_8);
        if (index < 0) {
            zip_source_free(source);
            fail("adding " + shown(e.name));
        }
        bool compressed = e.media_type.rfind("text/", 0) == 0 ||
                          e.media_type.find("xml") != std::string::npos ||
                          e.media_type.find("json") != std::string::npos;
        if (zip_set_file_compression(z, static_cast<zip_uint64_t>(index),
                                     compressed ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0) < 0)
            fail("compressing " + shown(e.name));
    }
    if (zip_close(z) < 0)
        fail("writing the container");
    finished_ = true;
}

// Reader

asic_reader::asic_reader(const std::filesystem::path& path, container_limits limits) {
    int code = 0;
    archive_ = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code);
    if (!archive_ && code == ZIP_ER_EXISTS)
        refuse(errc::container_entry_refused,
               "two entries of the container have the same name: which one counts is ambiguous");
    if (!archive_) {
        zip_error_t e;
        zip_error_init_with_code(&e, code);
        refuse(errc::container_malformed, "not a readable ZIP container: " + zip_message(&e));
    }
    struct close_on_throw {
        zip_t*& z;
        bool armed = true;
        ~close_on_throw() {
            if (armed) {
                zip_discard(z);
                z = nullptr;
            }
        }
    } guard{archive_};

    zip_int64_t count = zip_get_num_entries(archive_, 0);
    if (count <= 0)
        refuse(errc::container_entry_refused, "the container is empty");
    if (static_cast<std::uint64_t>(count) > limits.max_entries)
        refuse(errc::container_too_large, "the container has " + std::to_string(count) +
                                              " entries; at most " +
                                              std::to_string(limits.max_entries) + " are read");

    std::set<std::string> seen;
    std::uint64_t total = 0;
    for (zip_int64_t i = 0; i < count; ++i) {
        auto index = static_cast<zip_uint64_t>(i);
        zip_stat_t st;
        const char* raw = zip_get_name(archive_, index, ZIP_FL_ENC_RAW);
        if (!raw || zip_stat_index(archive_, index, ZIP_FL_ENC_RAW, &st) < 0)
            refuse(errc::container_malformed,
                   "entry " + std::to_string(i) + " is unreadable: " + archive_message(archive_));
        std::string name(raw);

        // EN 319 162-1 A.1: the first entry is "mimetype", stored, with no extra field.
        if (i == 0) {
            if (name != asic::mimetype_entry)
                refuse(errc::container_entry_refused,
                       "the first entry is " + shown(name) + ", not mimetype (EN 319 162-1 A.1)");
            if (st.comp_method != ZIP_CM_STORE)
                refuse(errc::container_entry_refused,
                       "mimetype is compressed; EN 319 162-1 A.1 requires it stored");
            if (zip_file_extra_fields_count(archive_, index, ZIP_FL_LOCAL) > 0)
                refuse(errc::container_entry_refused, "mimetype carries an extra field");
        } else if (name == asic::mimetype_entry) {
            refuse(errc::container_entry_refused,
                   "mimetype is not the first entry (EN 319 162-1 A.1)");
        }

        if (auto problem = entry_name_problem(name, limits.max_name_bytes)) {
            bool directory = !name.empty() && name.back() == '/' &&
                             !entry_name_problem(name.substr(0, name.size() - 1));
            if (!directory || st.size != 0)
                refuse(errc::container_entry_refused, "entry " + shown(name) + ": " + *problem);
        }
        if (!seen.insert(ascii_lower(name)).second)
            refuse(errc::container_entry_refused,
                   "two entries are named " + shown(name) + " (or differ only in case)");
        if (st.encryption_method != ZIP_EM_NONE)
            refuse(errc::container_entry_refused, "entry " + shown(name) + " is encrypted");
        if (st.size > limits.max_entry_bytes)
            refuse(errc::container_too_large, "entry " + shown(name) + " is over " +
                                                  std::to_string(limits.max_entry_bytes) +
                                                  " bytes");
        total += st.size;
        if (total > limits.max_total_bytes)
            refuse(errc::container_too_large, "the entries add up to over " +
                                                  std::to_string(limits.max_total_bytes) +
                                                  " bytes");
        if (i > 0 && name.back() != '/')
            entries_.push_back({name, st.size, index});
    }

    auto mime = read(asic::mimetype_entry, 256);
    if (mime != asic::mime_type)
        refuse(errc::container_entry_refused,
               "mimetype holds " + shown(mime) + ", not " + std::string(asic::mime_type));
    guard.armed = false;
}

asic_reader::~asic_reader() {
    if (archive_)
        zip_discard(archive_);
}

const asic_reader::entry* asic_reader::find(std::string_view name) const {
    for (const auto& e : entries_) {
        if (e.name == name)
            return &e;
    }
    return nullptr;
}

std::unique_ptr<byte_source> asic_reader::open(std::string_view name) const {
    zip_uint64_t index = 0; // mimetype, checked to be first
    zip_stat_t st;
    if (name != asic::mimetype_entry) {
        const entry* e = find(name);
        if (!e)
            refuse(errc::container_incomplete, "the container has no entry " + shown(name));
        index = e->index;
    }
    zip_file_t* file = zip_stat_index(archive_, index, 0, &st) == 0
                           ? zip_fopen_index(archive_, index, 0)
                           : nullptr;
    if (!file)
        refuse(errc::container_malformed,
               "entry " + shown(name) + " cannot be read: " + archive_message(archive_));
    return std::make_unique<entry_stream>(file, st.size, std::string(name));
}

std::string asic_reader::read(std::string_view name, std::uint64_t limit) const {
    const entry* e = find(name);
    if (e && e->size > limit)
        refuse(errc::container_too_large,
               "entry " + shown(name) + " is over " + std::to_string(limit) + " bytes");
    auto source = open(name);
    std::string out;
    std::uint8_t buffer[16384];
    while (std::size_t n = source->read(buffer, sizeof buffer)) {
        if (out.size() + n > limit)
            refuse(errc::container_too_large,
                   "entry " + shown(name) + " is over " + std::to_string(limit) + " bytes");
        out.append(reinterpret_cast<const char*>(buffer), n);
    }
    return out;
}

std::vector<detached_object> asic_reader::objects() const {
    std::vector<detached_object> out;
    for (const auto& e : entries_)
        out.push_back({e.name, {}, [this, name = e.name] { return open(name); }});
    return out;
}

} // namespace sceau::crypto
